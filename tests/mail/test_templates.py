"""Email templates per locale: a locale's own folder, else English; generic mail/ stays generic."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialwatch import words
from trialwatch.mail.templates import make_environment, render_email

SRC = Path(__file__).resolve().parents[2] / "src" / "trialwatch"


def _write(root: Path, locale: str, **parts: str) -> None:
    folder = root / "email" / locale
    folder.mkdir(parents=True, exist_ok=True)
    for part, text in parts.items():
        (folder / f"hello-{part.replace('_', '.')}").write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """English templates, a Dutch subject only; Dutch is a spoken locale."""
    monkeypatch.setattr(words, "LOCALES", ("en", "nl"))
    _write(tmp_path, "en", subject_txt="Hello", body_txt="Text", body_html="<p>HTML</p>")
    _write(tmp_path, "nl", subject_txt="Hallo")
    return tmp_path


def test_a_locale_reads_its_own_templates_and_english_for_the_rest(folder: Path) -> None:
    """The Dutch subject is Dutch; the parts not translated are the English ones."""
    message = render_email(make_environment(folder), "hello", {}, "nl")
    assert (message.subject, message.text, message.html) == ("Hallo", "Text", "<p>HTML</p>")


@pytest.mark.parametrize("locale", ["en", "en-GB", "xx", "", None])
def test_a_locale_trialwatch_does_not_speak_reads_english(folder: Path, locale: str | None) -> None:
    """Unknown or regional variants fall back to English, the default locale."""
    assert render_email(make_environment(folder), "hello", {}, locale).subject == "Hello"


def test_a_locale_spoken_without_a_folder_reads_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spoken locale with no templates at all is English."""
    monkeypatch.setattr(words, "LOCALES", ("en", "de"))
    _write(tmp_path, "en", subject_txt="Hello", body_txt="Text", body_html="HTML")
    assert render_email(make_environment(tmp_path), "hello", {}, "de").subject == "Hello"


def test_mail_imports_nothing_from_digest() -> None:
    """mail/ is below digest/: the generic templating lives in mail, not the reverse."""
    for path in (SRC / "mail").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "trialwatch.digest" not in text, path.name
