"""The digest a patient reads, whole: real records through the real diff, compared exactly.

The scenario: a subscriber with default settings follows four trials, and the
registry posts a status change, a new site in the Netherlands with a contact,
results, an eligibility criterion added, a one-year primary completion slip and
a new trial. The records are real (tests/fixtures/ctgov); the edits are the
smallest that make each event. ``TRIALWATCH_UPDATE_SNAPSHOTS=1`` rewrites the
snapshots in tests/digest/snapshots/ instead of comparing with them.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest

from trialwatch.digest import ChangeItem, Digest, build_digest, render_digest
from trialwatch.digest.details import add_details, site_places, study_info
from trialwatch.digest.model import NearPlace, Recipient, StudyInfo, SubscriptionPrefs
from trialwatch.mail.templates import RenderedMessage
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.registries.ctgov.summary import change_sites, summarise
from trialwatch.store.subscribers import SubscriptionRequest

HERE = Path(__file__).parent
FIXTURES = HERE.parent / "fixtures" / "ctgov"
SNAPSHOTS = HERE / "snapshots"
SCREENSHOTS = HERE.parent / "artefacts" / "screenshots"
NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
WATCHLIST = ("gyn-onc", "Gynaecological cancers")
RECIPIENT = Recipient(
    subscriber_id=1,
    email="ana@example.org",
    name="Ana",
    unsubscribe_url="https://trialwatch.example/unsubscribe/tok",
    manage_url="https://trialwatch.example/manage/tok",
)
LEIDEN_SITE = {
    # A site as the registry lists one (Location schema); the contact is illustrative.
    "facility": "Leiden University Medical Center",
    "status": "RECRUITING",
    "city": "Leiden",
    "zip": "2333 ZA",
    "country": "Netherlands",
    "contacts": [
        {
            "name": "Trial office, Gynaecology",
            "role": "CONTACT",
            "phone": "+31 71 526 9111",
            "email": "trials.gyn@example.org",
        }
    ],
    "geoPoint": {"lat": 52.15833, "lon": 4.49306},
}


def _record(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return dict(data["studies"][0] if "studies" in data else data)


def _posted_on(record: dict[str, Any], day: str) -> dict[str, Any]:
    status = record["protocolSection"]["statusModule"]
    status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    return record


def _versions() -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """(old, new) record pairs, one per study, as two syncs would store them."""
    endometrial = _record("studies-response-NCT06388018.json")
    moved = _posted_on(copy.deepcopy(endometrial), "2026-11-14")
    protocol = moved["protocolSection"]
    protocol["contactsLocationsModule"]["locations"].append(copy.deepcopy(LEIDEN_SITE))
    protocol["statusModule"]["primaryCompletionDateStruct"]["date"] = "2028-01-16"
    eligibility = protocol["eligibilityModule"]
    eligibility["eligibilityCriteria"] = eligibility["eligibilityCriteria"].replace(
        "\n\nExclusion Criteria:",
        "\n* Patients must be able to attend follow-up visits at the treating centre"
        "\n\nExclusion Criteria:",
        1,
    )

    rosacea = _record("NCT03064438.json")  # results first posted 2021-08-23
    before_results = copy.deepcopy(rosacea)
    before_results["hasResults"] = False
    before_results.pop("resultsSection", None)
    status = before_results["protocolSection"]["statusModule"]
    for key in ("resultsFirstSubmitDate", "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct"):
        status.pop(key, None)
    _posted_on(before_results, "2021-03-01")

    proton = _record("studies-response-NCT03281889.json")
    closed = _posted_on(copy.deepcopy(proton), "2026-11-20")
    closed["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"

    new_trial = _record("NCT06171568.json")
    return [(endometrial, moved), (before_results, rosacea), (proton, closed), (None, new_trial)]


def scenario() -> tuple[list[ChangeItem], dict[str, StudyInfo]]:
    """The change items and study infos the digest job would read after the syncs."""
    items: list[ChangeItem] = []
    studies: dict[str, StudyInfo] = {}
    for old, new in _versions():
        info = study_info(summarise(new))
        studies[info.nct_id] = info
        posted = date.fromisoformat(
            new["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
        )
        for change in diff_records(old, new):
            if change.significance == "noise":
                continue  # stored, never read for a digest (change_feed)
            items.append(
                ChangeItem(
                    change_id=len(items) + 1,
                    watchlist_slug=WATCHLIST[0],
                    watchlist_name=WATCHLIST[1],
                    nct_id=info.nct_id,
                    kind=change.kind,
                    summary=change.summary,
                    significance=change.significance,
                    detected_at=NOW,
                    countries=change.countries,
                    sites=site_places(change_sites(change.kind, change.old, change.new)),
                    posted=posted,
                )
            )
    return items, studies


def default_digest() -> Digest:
    """The digest of the scenario for a subscriber with default settings."""
    items, studies = scenario()
    defaults = SubscriptionRequest(email=RECIPIENT.email, watchlists=(WATCHLIST[0],))
    prefs = SubscriptionPrefs(
        watchlist_slug=WATCHLIST[0],
        minimum_significance=defaults.significance,  # type: ignore[arg-type]
        countries=defaults.countries,
        event_kinds=defaults.kinds,
    )
    digest = build_digest(RECIPIENT, [prefs], items, studies, now=NOW)
    assert digest is not None
    return add_details(digest, studies, items)


def _words(text: str) -> str:
    """``text`` with each run of whitespace made one space (wrapping and tags aside)."""
    return " ".join(text.split())


def _text_snapshot(rendered: RenderedMessage) -> str:
    return f"Subject: {rendered.subject}\n\n{rendered.text}"


def _compare(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("TRIALWATCH_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.is_file(), f"{path} missing: run with TRIALWATCH_UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from its snapshot; if the change is wanted, rerun with"
        " TRIALWATCH_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_the_default_digest_matches_its_snapshots(env: jinja2.Environment) -> None:
    """Subject and text part, and the HTML part, are exactly as reviewed."""
    rendered = render_digest(env, default_digest())
    _compare("digest-default.txt", _text_snapshot(rendered))
    _compare("digest-default.html", rendered.html)


def test_the_default_digest_says_what_a_patient_needs(env: jinja2.Environment) -> None:
    """Both parts: where and whom to ask, the results tab, posted dates, the glossary."""
    rendered = render_digest(env, default_digest())
    assert 'href="https://clinicaltrials.gov/study/NCT03064438?tab=results"' in rendered.html
    assert 'href="mailto:trials.gyn@example.org"' in rendered.html
    assert 'href="tel:+31715269111"' in rendered.html
    assert "See the results: https://clinicaltrials.gov/study/NCT03064438?tab=results" in (
        rendered.text
    )
    for part in (
        _words(rendered.text),
        _words(html.unescape(re.sub(r"<[^>]+>", " ", rendered.html))),
    ):
        for fragment in (
            "Leiden University Medical Center, Leiden",
            "Trial office, Gynaecology",
            "+31 71 526 9111",
            "trials.gyn@example.org",
            "Results posted (23 Aug 2021)",
            "(posted 14 Nov 2026)",
            "(posted 20 Nov 2026)",
            "Camille Heslot, MD",
            "+33 01.49.95.81.69",
            "18 years and older, all sexes",
            "400 participants (expected)",
            "Where: France (1 site)",
            "Not yet recruiting",
            "Active, not recruiting",
        ):
            assert _words(fragment) in part
        assert "results may be posted later" not in part
        assert 'New trial: "' not in part  # the title is right above: no bullet repeats it


def test_a_near_me_digest_says_how_far_and_which_sites_are_near(env: jinja2.Environment) -> None:
    """Within 60 km of Amsterdam: only the Leiden site's trial, its distance on line and entry."""
    items, studies = scenario()
    near = NearPlace("Amsterdam", 52.37, 4.89, 60)
    prefs = SubscriptionPrefs(watchlist_slug=WATCHLIST[0], minimum_significance="major", near=near)
    digest = build_digest(RECIPIENT, [prefs], items, studies, now=NOW)
    assert digest is not None
    rendered = render_digest(env, add_details(digest, studies, items))
    for part in (rendered.text, html.unescape(re.sub(r"<[^>]+>", " ", rendered.html))):
        words = _words(part)
        assert "New site: Leiden, Netherlands (Recruiting) — 36 km from Amsterdam" in words
        assert "Sites within 60 km of Amsterdam: Leiden (36 km)" in words
        assert "NCT06171568" not in words  # the new trial in Paris is not near


@pytest.mark.slow
@pytest.mark.parametrize(("width", "name"), [(1024, "digest-default"), (390, "digest-phone")])
def test_the_html_digest_in_chromium_fits_and_is_saved(
    env: jinja2.Environment, tmp_path: Path, width: int, name: str
) -> None:
    """Chromium shows the HTML part without sideways scroll; a screenshot is saved to look at."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        if os.environ.get("TRIALWATCH_REQUIRE_BROWSER") == "1":
            pytest.fail("/usr/bin/chromium is missing but TRIALWATCH_REQUIRE_BROWSER=1")
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "digest.html"
    page_file.write_text(render_digest(env, default_digest()).html, encoding="utf-8")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_file.as_uri())
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    assert scroll_width <= width
