"""Email rendering: subject, plain text and HTML parts, template errors, template folders."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest

import trialwatch
from trialwatch.digest import Digest, build_digest, render_digest
from trialwatch.digest.model import ChangeItem, Recipient
from trialwatch.errors import ConfigError
from trialwatch.mail.outbox_rows import render_confirmation
from trialwatch.mail.templates import (
    and_join,
    clean_subject,
    default_environment,
    default_template_dir,
    long_date,
    make_environment,
    plural,
    render_email,
    wrap_text,
)

from .conftest import NOW, make_change, make_recipient, make_study, make_subscription, studies_for

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def digest_of(
    changes: list[ChangeItem],
    recipient: Recipient | None = None,
    **kwargs: Any,
) -> Digest:
    slugs = dict.fromkeys(c.watchlist_slug for c in changes)
    digest = build_digest(
        recipient or make_recipient(),
        [make_subscription(watchlist_slug=slug) for slug in slugs],
        changes,
        studies_for(changes),
        now=NOW,
        **kwargs,
    )
    assert digest is not None
    return digest


def sample_digest(**kwargs: Any) -> Digest:
    """One new trial and two changed ones in MMN."""
    return digest_of(
        [
            make_change(change_id=1, nct_id="NCT06742190", kind="new_study", summary="New trial"),
            make_change(
                change_id=2,
                nct_id="NCT05225675",
                summary="Status: Enrolling by invitation → Active, not recruiting",
            ),
            make_change(
                change_id=3,
                nct_id="NCT06537999",
                kind="enrollment",
                significance="minor",
                summary="Enrollment: 40 (anticipated) → 44 (actual)",
            ),
        ],
        **kwargs,
    )


def write_templates(root: Path, name: str, **parts: str) -> None:
    """Write email/en/<name>-subject.txt, -body.txt and -body.html, defaulting each to "x"."""
    folder = root / "email" / "en"
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("subject.txt", "body.txt", "body.html"):
        key = part.replace(".", "_").replace("-", "_")
        (folder / f"{name}-{part}").write_text(parts.get(key, "x"), encoding="utf-8")


# --- content in both parts ------------------------------------------------------------------


def test_both_parts_show_each_study_title_nct_id_summary_and_link(
    env: jinja2.Environment,
) -> None:
    """Every study's title, NCT ID, change summaries and link are in text and HTML."""
    digest = sample_digest()
    message = render_digest(env, digest)

    for group in digest.groups:
        for section in group.sections:
            for study in section.studies:
                fragments = [study.title, study.nct_id, study.url]
                fragments += [line.summary for line in study.changes]
                for fragment in fragments:
                    assert fragment in message.text
                    assert fragment in message.html


def test_both_parts_have_section_headings_statuses_and_the_glossary(
    env: jinja2.Environment,
) -> None:
    """Section titles, status labels and glossary explanations show in text and HTML."""
    digest = sample_digest()
    message = render_digest(env, digest)

    fragments = [
        "Multifocal motor neuropathy",
        "New trials (1)",
        "Changes to trials you follow (2)",
    ]
    fragments += ["What the statuses mean", "Status: ", "Hello Jane,", "12 March 2026"]
    for status in digest.glossary:
        assert status.explanation is not None
        fragments += [status.label, status.explanation[:40]]
    for fragment in fragments:
        assert fragment in message.text
        assert fragment in message.html


def test_both_parts_link_to_unsubscribe_and_manage(env: jinja2.Environment) -> None:
    """The footer of both parts carries the unsubscribe and manage links."""
    message = render_digest(env, sample_digest())

    for url in (
        "https://trialwatch.example/unsubscribe/tok",
        "https://trialwatch.example/manage/tok",
    ):
        assert url in message.text
        assert f'href="{url}"' in message.html


def test_the_manage_link_is_left_out_when_there_is_none(env: jinja2.Environment) -> None:
    """A recipient without a manage page gets only the unsubscribe link."""
    message = render_digest(
        env, sample_digest(recipient=make_recipient(manage_url=None, name=None))
    )

    assert "Change what you get" not in message.text
    assert "Change what you get" not in message.html
    assert "Unsubscribe" in message.html
    assert message.text.startswith("Hello,\n")


def test_the_and_n_more_line_links_to_the_rest(env: jinja2.Environment) -> None:
    """Over the cap, both parts say how many more trials changed and where to see them."""
    message = render_digest(
        env, sample_digest(max_studies=1, more_urls={"mmn": "https://trialwatch.example/w/mmn"})
    )

    assert "…and 2 more trials with changes" in message.text
    assert "\nhttps://trialwatch.example/w/mmn\n" in message.text
    assert "…and 2 more trials with changes" in message.html
    assert '<a href="https://trialwatch.example/w/mmn"' in message.html


def test_the_and_n_more_line_has_no_link_when_there_is_none(env: jinja2.Environment) -> None:
    """Without any link to the rest, both parts still count them."""
    digest = sample_digest(max_studies=2, recipient=make_recipient(manage_url=None))
    message = render_digest(env, digest)

    assert "…and 1 more trial with changes, left out" in message.text
    assert "…and 1 more trial with changes, left out" in message.html


def test_a_watchlist_with_no_study_shown_says_how_many_were_left_out(
    env: jinja2.Environment,
) -> None:
    """When the cap leaves a watchlist empty, its line does not start with "and"."""
    changes = [
        make_change(change_id=1),
        make_change(change_id=2, watchlist_slug="cidp", watchlist_name="CIDP", kind="title"),
    ]
    message = render_digest(env, digest_of(changes, max_studies=1))

    assert "\n1 trial with changes. See them all:\nhttps://trialwatch.example/manage/tok\n" in (
        message.text
    )
    assert ">1 trial with changes: <a href" in message.html


def test_a_digest_without_known_statuses_has_no_glossary(env: jinja2.Environment) -> None:
    """No StudyInfo and no status change: no status line and no glossary heading."""
    digest = build_digest(
        make_recipient(),
        [make_subscription()],
        [make_change(kind="site_added", summary="New site: Utrecht, Netherlands")],
        {},
        now=NOW,
    )
    assert digest is not None
    message = render_digest(env, digest)

    for part in (message.text, message.html):
        assert "What the statuses mean" not in part
        assert "Status:" not in part


def test_the_html_part_shows_acronyms_and_marks_major_changes(env: jinja2.Environment) -> None:
    """Acronym before the NCT ID in both parts; major changes in bold in HTML."""
    changes = [make_change(change_id=1), make_change(change_id=2, significance="minor")]
    digest = build_digest(
        make_recipient(),
        [make_subscription()],
        changes,
        studies_for(changes, acronym="EMPASSION"),
        now=NOW,
    )
    assert digest is not None
    message = render_digest(env, digest)

    assert "EMPASSION · NCT06742190 · Status: Recruiting" in message.text
    assert "EMPASSION · NCT06742190" in message.html
    assert "font-weight:bold;" in message.html


# --- subject ------------------------------------------------------------------------------


def test_the_subject_counts_new_and_updated_trials_and_names_the_watchlists(
    env: jinja2.Environment,
) -> None:
    """The subject reads "TrialWatch: 1 new trial, 2 updates — <watchlist>"."""
    message = render_digest(env, sample_digest())

    assert message.subject == "TrialWatch: 1 new trial, 2 updates — Multifocal motor neuropathy"


def test_the_subject_leaves_out_a_count_that_is_zero(env: jinja2.Environment) -> None:
    """Only updates, or only new trials: no dangling comma."""
    updates = render_digest(env, digest_of([make_change()]))
    new = render_digest(
        env,
        digest_of(
            [
                make_change(change_id=1, kind="new_study", watchlist_slug="a", watchlist_name="A"),
                make_change(change_id=2, kind="new_study", watchlist_slug="b", watchlist_name="B"),
            ]
        ),
    )

    assert updates.subject == "TrialWatch: 1 update — Multifocal motor neuropathy"
    assert new.subject == "TrialWatch: 2 new trials — A and B"


def test_a_newline_in_the_recipient_name_never_reaches_the_subject(tmp_path: Path) -> None:
    """Line breaks and control characters are flattened, even if a template uses the name."""
    write_templates(
        tmp_path,
        "digest",
        subject_txt="Hi {{ recipient.name }}\n{{ greeting_name }}\r\n",
    )
    recipient = make_recipient(name="Jane\r\nBcc: victim@example.org\x00")

    message = render_digest(make_environment(tmp_path), digest_of([make_change()], recipient))

    assert "\r" not in message.subject
    assert "\n" not in message.subject
    assert "\x00" not in message.subject
    assert message.subject == "Hi Jane Bcc: victim@example.org Jane Bcc: victim@example.org"


def test_a_long_subject_is_cut_at_120_characters(env: jinja2.Environment) -> None:
    """Many watchlists make a long subject: it is cut with an ellipsis."""
    changes = [
        make_change(
            change_id=i, watchlist_slug=f"w{i}", watchlist_name=f"A watchlist with a long name {i}"
        )
        for i in range(1, 8)
    ]

    subject = render_digest(env, digest_of(changes)).subject

    assert len(subject) == 120
    assert subject.endswith("…")


def test_clean_subject_collapses_whitespace_and_strips_unicode_line_breaks() -> None:
    """Tabs, CR/LF, U+2028 and repeated spaces become single spaces."""
    assert clean_subject("  a\tb\r\n c\u2028d  \x85e ") == "a b c d e"


# --- escaping -------------------------------------------------------------------------------


def test_the_html_part_escapes_a_script_tag_in_a_title(env: jinja2.Environment) -> None:
    """A hostile title shows as text in HTML and verbatim in plain text."""
    change = make_change(summary="<b>bold</b> & more")
    digest = build_digest(
        make_recipient(name="<i>Jane</i>"),
        [make_subscription()],
        [change],
        {change.nct_id: make_study(title="<script>alert(1)</script>")},
        now=NOW,
    )
    assert digest is not None

    message = render_digest(env, digest)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "<script" not in message.html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in message.html
    assert "&lt;i&gt;Jane&lt;/i&gt;" in message.html
    assert "<script>alert(1)</script>" in message.text


def test_the_html_part_is_self_contained_inline_styled_tables(env: jinja2.Environment) -> None:
    """No <style> block, images, scripts or external resources; a preheader; table layout."""
    html = render_digest(env, sample_digest()).html

    assert "<style" not in html
    assert "<img" not in html
    assert "<link" not in html
    assert "src=" not in html
    assert 'role="presentation"' in html
    assert "display:none" in html  # the preheader
    assert "1 new trial and 2 trials with changes in Multifocal motor neuropathy" in html
    assert html.lstrip().startswith("<!DOCTYPE html>")


# --- plain text layout ----------------------------------------------------------------------


def test_the_text_part_wraps_at_78_columns_and_keeps_urls_whole(env: jinja2.Environment) -> None:
    """Lines stay within 78 columns unless a single word is longer; URLs stand alone."""
    long_summary = "Primary completion date: " + "moved later again " * 12
    long_url = "https://trialwatch.example/unsubscribe/" + "t" * 90
    digest = digest_of(
        [make_change(summary=long_summary)], make_recipient(unsubscribe_url=long_url)
    )

    text = render_digest(env, digest).text

    for line in text.splitlines():
        assert len(line) <= 78 or " " not in line.strip(), line
    assert f"\n{long_url}\n" in text
    assert "\nhttps://clinicaltrials.gov/study/NCT06742190\n" in text
    assert re.search(r"^  \* Primary completion date: moved later", text, re.MULTILINE)
    assert re.search(r"^  \* Primary.*\n    (moved|later|again) ", text, re.MULTILINE)


def test_wrap_text_fits_short_text_and_indents_continuations() -> None:
    """Short text is returned flat; long text gets the subsequent indent."""
    assert wrap_text("a  b\nc", indent="* ") == "* a b c"
    assert wrap_text("aaa bbb ccc", width=7, indent="- ", subsequent="  ") == "- aaa\n  bbb\n  ccc"
    assert wrap_text("aaa bbb", width=5) == "aaa\nbbb"


def test_the_template_helpers_read_naturally() -> None:
    """plural, and_join and long_date give plain English."""
    assert plural(1, "trial") == "1 trial"
    assert plural(3, "trial") == "3 trials"
    assert plural(2, "study", "studies") == "2 studies"
    assert and_join([]) == ""
    assert and_join(["A"]) == "A"
    assert and_join(["A", "B", "C"]) == "A, B and C"
    assert long_date(datetime(2026, 1, 5, 23, 0)) == "5 January 2026"


# --- confirmation ---------------------------------------------------------------------------


def test_the_confirmation_names_the_watchlists_and_carries_the_link(
    env: jinja2.Environment,
) -> None:
    """Subject, text and HTML ask to confirm the named watchlists with the URL."""
    url = "https://trialwatch.example/confirm/abc?x=1&y=2"

    message = render_confirmation(
        env,
        make_recipient(name="Jane\nDoe"),
        url,
        watchlist_names=["Multifocal motor neuropathy", "CIDP"],
    )

    assert message.subject == "Confirm your subscription to Multifocal motor neuropathy and CIDP"
    assert f"\n{url}\n" in message.text
    assert 'href="https://trialwatch.example/confirm/abc?x=1&amp;y=2"' in message.html
    for fragment in ("Multifocal motor neuropathy and CIDP", "Hello Jane Doe,", "jane@example.org"):
        assert fragment in message.text
        assert fragment in message.html


def test_the_confirmation_without_watchlist_names_still_reads_well(
    env: jinja2.Environment,
) -> None:
    """No names: a generic subject and sentence."""
    message = render_confirmation(env, make_recipient(name=" "), "https://x.example/c")

    assert message.subject == "Confirm your TrialWatch subscription"
    assert message.text.startswith("Hello,\n")
    assert "clinical trials change." in message.text
    assert "clinical trials change." in message.html


# --- template errors ------------------------------------------------------------------------


def test_a_template_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    """A template that does not parse raises ConfigError "<path>:<line>: <message>"."""
    write_templates(tmp_path, "digest", body_txt="Hello\n\n{% for x in %}\n")
    env = make_environment(tmp_path)

    with pytest.raises(ConfigError) as caught:
        render_digest(env, sample_digest())

    path = tmp_path / "email" / "en" / "digest-body.txt"
    assert str(caught.value).startswith(f"{path}:3: ")


def test_an_undefined_variable_names_the_file_and_line(tmp_path: Path) -> None:
    """An undefined name fails loudly, with the template's file and line."""
    write_templates(tmp_path, "digest", body_html="<p>\n{{ digest.study_count }}\n{{ nope }}\n")
    env = make_environment(tmp_path)

    with pytest.raises(ConfigError) as caught:
        render_digest(env, sample_digest())

    path = tmp_path / "email" / "en" / "digest-body.html"
    assert str(caught.value) == f"{path}:3: 'nope' is undefined"


def test_an_error_in_a_parent_template_names_the_parent(tmp_path: Path) -> None:
    """An undefined name in _base.html is reported in _base.html, not in the child."""
    write_templates(tmp_path, "digest", body_html='{% extends "email/en/_base.html" %}')
    (tmp_path / "email" / "en" / "_base.html").write_text("<html>\n{{ missing.attr }}\n", "utf-8")

    with pytest.raises(ConfigError, match=r"_base\.html:2: 'missing' is undefined"):
        render_digest(make_environment(tmp_path), sample_digest())


def test_a_missing_template_names_the_file(tmp_path: Path) -> None:
    """A missing part of an email raises ConfigError naming the expected file."""
    write_templates(tmp_path, "digest")
    (tmp_path / "email" / "en" / "digest-body.html").unlink()

    with pytest.raises(ConfigError) as caught:
        render_digest(make_environment(tmp_path), sample_digest())

    path = tmp_path / "email" / "en" / "digest-body.html"
    assert str(caught.value) == f"{path}: template not found: email/en/digest-body.html"


def test_a_missing_template_without_a_folder_names_the_template() -> None:
    """With a loader that has no folder, the template name stands in for the path."""
    env = jinja2.Environment(loader=jinja2.DictLoader({}), autoescape=True)

    with pytest.raises(ConfigError, match=r"^email/en/welcome-subject\.txt: template not found"):
        render_email(env, "welcome", {})


# --- template folders -----------------------------------------------------------------------


def test_a_custom_template_folder_is_used(tmp_path: Path) -> None:
    """make_environment(path) renders that folder's templates, HTML escaped, text not."""
    write_templates(
        tmp_path,
        "digest",
        subject_txt="{{ digest.study_count }} studies",
        body_txt="T {{ '<b>' }}",
        body_html="H {{ '<b>' }}",
    )

    message = render_digest(make_environment(tmp_path), sample_digest())

    assert message == type(message)(subject="3 studies", text="T <b>", html="H &lt;b&gt;")


def test_a_missing_template_folder_is_a_config_error(tmp_path: Path) -> None:
    """Pointing at a folder that does not exist fails when the environment is made."""
    with pytest.raises(ConfigError, match="template folder not found"):
        make_environment(tmp_path / "nope")


def test_the_default_folder_is_the_repository_templates_in_a_checkout() -> None:
    """In a source checkout, templates/ at the repository root is found."""
    assert default_template_dir() == REPO_TEMPLATES
    assert default_environment() is default_environment()


def test_the_default_folder_prefers_templates_inside_the_package(tmp_path: Path) -> None:
    """An installed wheel's trialwatch/_templates wins over any checkout."""
    package = tmp_path / "site-packages" / "trialwatch"
    (package / "_templates").mkdir(parents=True)

    assert default_template_dir(package) == package / "_templates"


def test_no_template_folder_anywhere_is_a_config_error(tmp_path: Path) -> None:
    """Neither _templates nor a checkout: ConfigError says where it looked."""
    package = tmp_path / "lib" / "trialwatch"
    package.mkdir(parents=True)

    with pytest.raises(ConfigError, match="email templates not found"):
        default_template_dir(package)


def test_the_shipped_templates_sit_where_the_wheel_expects_them() -> None:
    """pyproject force-includes templates/ as trialwatch/_templates; the email files exist."""
    assert Path(trialwatch.__file__).resolve().parents[2] / "templates" == REPO_TEMPLATES
    for name in ("digest", "confirm"):
        for part in ("subject.txt", "body.txt", "body.html"):
            assert (REPO_TEMPLATES / "email" / "en" / f"{name}-{part}").is_file()
