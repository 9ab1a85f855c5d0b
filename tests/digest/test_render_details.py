"""What the digest shows beside the summaries: facts, sites, contacts, links, dates, glossary."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import date
from typing import Any

import jinja2

from trialwatch.digest import ChangeItem, Digest, build_digest, render_digest
from trialwatch.digest.details import add_details
from trialwatch.digest.model import Contact, SitePlace, StudyInfo
from trialwatch.mail.templates import (
    RenderedMessage,
    is_email_address,
    short_date,
    tel_target,
    wrap_text,
)

from .conftest import NOW, make_change, make_recipient, make_study, make_subscription


def _digest(changes: list[ChangeItem], studies: dict[str, StudyInfo] | None = None) -> Digest:
    known = studies if studies is not None else {c.nct_id: make_study(c.nct_id) for c in changes}
    digest = build_digest(make_recipient(), [make_subscription()], changes, known, now=NOW)
    assert digest is not None
    return add_details(digest, known, changes)


def _render(env: jinja2.Environment, changes: list[ChangeItem], **kwargs: Any) -> RenderedMessage:
    return render_digest(env, _digest(changes, **kwargs))


def _words(text: str) -> str:
    return " ".join(text.split())


def _visible(page: str) -> str:
    """The words an HTML part shows (tags dropped, entities read)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_new_trial_shows_no_bullet_that_repeats_its_title(env: jinja2.Environment) -> None:
    """Under the title: who can take part and whom to ask, not "New trial: <title>"."""
    study = make_study(
        title="Empasiprubart in MMN",
        minimum_age="18 Years",
        central_contacts=(Contact("Study desk", "+1 555 0100", "desk@example.org"),),
    )
    summary = 'New trial: "Empasiprubart in MMN" — Recruiting'
    rendered = _render(
        env,
        [make_change(kind="new_study", summary=summary)],
        studies={study.nct_id: study},
    )
    for part in (rendered.text, rendered.html):
        assert "New trial:" not in part
        assert part.count("Empasiprubart in MMN") == 1
        assert "18 years and older" in part
        assert "Study desk" in part


def test_a_new_trial_without_details_keeps_its_line(env: jinja2.Environment) -> None:
    """With no record to read (title unknown), the new-trial line is all there is: kept."""
    rendered = _render(
        env, [make_change(kind="new_study", summary="New trial: NCT06742190")], studies={}
    )
    for part in (rendered.text, rendered.html):
        assert "New trial: NCT06742190" in part


def test_completed_is_explained_without_contradicting_results_posted(
    env: jinja2.Environment,
) -> None:
    """A completed trial whose results were just posted: no "results may be posted later"."""
    change = make_change(kind="results_posted", summary="Results posted", posted=date(2026, 11, 2))
    rendered = _render(
        env, [change], studies={change.nct_id: make_study(overall_status="COMPLETED")}
    )
    for part in (rendered.text, _visible(rendered.html)):
        assert "Completed: Ended as planned" in _words(part)
        assert "may be posted later" not in part
        assert "Results posted (2 Nov 2026)" in _words(part)


def test_each_change_says_when_the_registry_posted_it(env: jinja2.Environment) -> None:
    """ "(posted 14 Nov 2026)" after the summary; no date, no brackets."""
    rendered = _render(
        env,
        [
            make_change(change_id=1, posted=date(2026, 11, 14)),
            make_change(change_id=2, nct_id="NCT2", summary="Status: Recruiting → Completed"),
        ],
    )
    assert "Status: Not yet recruiting → Recruiting (posted 14 Nov 2026)" in rendered.text
    assert "Status: Recruiting → Completed\n" in rendered.text
    assert "(posted 14 Nov 2026)</span>" in rendered.html
    assert rendered.html.count("(posted ") == 1


def test_a_new_site_says_where_and_whom_to_ask(env: jinja2.Environment) -> None:
    """Facility and city, then the site's contact with tel: and mailto: links."""
    site = SitePlace(
        "Leiden University Medical Center",
        "Leiden",
        "Netherlands",
        status="RECRUITING",
        contacts=(Contact("Trial office", "+31 71 526 9111", "trials@example.org"),),
    )
    change = make_change(
        kind="site_added", summary="New site: Leiden, Netherlands (Recruiting)", sites=(site,)
    )
    rendered = _render(env, [change])
    assert "      - Leiden University Medical Center, Leiden\n" in rendered.text
    assert "        Contact: Trial office, +31 71 526 9111, trials@example.org\n" in rendered.text
    assert '<a href="tel:+31715269111"' in rendered.html
    assert '<a href="mailto:trials@example.org"' in rendered.html


def test_many_sites_are_listed_with_their_statuses_up_to_three(env: jinja2.Environment) -> None:
    """A grouped site change lists three sites, each with its status, then how many more."""
    sites = tuple(
        SitePlace(f"Site {n}", "Leiden", "Netherlands", status="RECRUITING") for n in range(5)
    )
    change = make_change(kind="sites_added", summary="5 new sites: 5 in Netherlands", sites=sites)
    rendered = _render(env, [change])
    for part in (rendered.text, rendered.html):
        assert "Site 2, Leiden (Recruiting)" in part
        assert "Site 3" not in part
        assert "…and 2 more sites on the trial's page" in part


def test_where_and_the_sites_in_your_area_are_shown(env: jinja2.Environment) -> None:
    """A near-me line says how far; a study lists the matching sites (filled by assemble)."""
    digest = _digest([make_change(kind="site_added", summary="New site: Leiden, Netherlands")])
    entry = digest.groups[0].sections[0].studies[0]
    line = dataclasses.replace(entry.changes[0], where="18 km from Leiden")
    entry = dataclasses.replace(
        entry,
        changes=(line,),
        matching_sites=("Leiden (18 km)", "Amsterdam"),
        matching_label="Sites within 50 km of Leiden",
    )
    section = dataclasses.replace(digest.groups[0].sections[0], studies=(entry,))
    group = dataclasses.replace(digest.groups[0], sections=(section,))
    rendered = render_digest(env, dataclasses.replace(digest, groups=(group,)))
    for part in (rendered.text, rendered.html):
        assert "New site: Leiden, Netherlands — 18 km from Leiden" in part
        assert "Sites within 50 km of Leiden:" in part
        assert "Leiden (18 km), Amsterdam" in part


def test_registry_text_in_sites_and_contacts_is_escaped_and_kept_on_its_line(
    env: jinja2.Environment,
) -> None:
    """Markup in a facility or contact is shown as text; only a plain address gets mailto:."""
    hostile = SitePlace(
        '<script>alert("x")</script>',
        "Leiden\nBcc: x@example.org",
        "Netherlands",
        contacts=(Contact("<b>Dr</b>", '1"><img src=x>', 'a@example.org"><img src=x onerror=1>'),),
    )
    rendered = _render(env, [make_change(kind="site_added", summary="New site", sites=(hostile,))])
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html
    assert "<img" not in rendered.html
    assert "<b>Dr</b>" not in rendered.html
    assert "mailto:" not in rendered.html
    assert 'href="tel:1"' in rendered.html
    assert "\nBcc:" not in rendered.text
    assert '<script>alert("x")</script>, Leiden Bcc: x@example.org' in rendered.text


def test_the_terms_glossary_explains_only_the_terms_in_the_email(env: jinja2.Environment) -> None:
    """Primary completion and expected/actual are explained when a line uses them."""
    slip = make_change(
        kind="primary_completion_date",
        significance="minor",
        summary="Primary completion: expected January 2027 → expected January 2028",
    )
    with_terms = _render(env, [slip])
    without = _render(env, [make_change()])
    for part in (with_terms.text, with_terms.html):
        assert "Words used above" in part
        assert "Primary completion: When" in _visible(part)
        assert "Enrollment" not in part
    for part in (without.text, without.html):
        assert "Words used above" not in part


def test_the_posted_date_is_never_split_across_lines() -> None:
    """The tail of a wrapped line moves whole to the next line when it does not fit."""
    summary = "Primary completion: expected January 2027 → expected January 2028"
    assert wrap_text(summary, indent="  * ", tail="(posted 14 Nov 2026)") == (
        "  * Primary completion: expected January 2027 → expected January 2028\n"
        "    (posted 14 Nov 2026)"
    )
    assert wrap_text("Short", tail="(posted 1 Nov 2026)") == "Short (posted 1 Nov 2026)"


def test_the_helpers_format_dates_phones_and_addresses() -> None:
    """Short dates, dialable numbers, and what counts as one plain address."""
    assert short_date(date(2026, 11, 4)) == "4 Nov 2026"
    assert tel_target("+33 01.49.95.81.69") == "+330149958169"
    assert tel_target("(555) 010-0100 ext. 12") == "5550100100"
    assert is_email_address("camille.heslot@aphp.fr")
    for bad in ("a@b", "a b@example.org", 'a@example.org"><x', "mailto:a@example.org", None):
        assert not is_email_address(bad)


def test_control_characters_in_registry_text_never_reach_the_text_part(
    env: jinja2.Environment,
) -> None:
    """An escape sequence or a bell in a summary or title is shown as a space."""
    change = make_change(summary="New inclusion: \x1b[31mred\x1b[0m text\x07")
    studies = {change.nct_id: make_study(title="Title\x1b]0;owned\x07 here")}
    rendered = _render(env, [change], studies=studies)
    assert "\x1b" not in rendered.text
    assert "\x07" not in rendered.text
    assert "New inclusion: [31mred [0m text" in rendered.text
