"""Render emails from Jinja2 templates. Pure, except that it reads the template files.

An email is named by a key, and each key has three templates under ``email/`` in
the template folder: ``<name>-subject.txt``, ``<name>-body.txt`` and
``<name>-body.html`` (``digest`` and ``confirm`` today). HTML templates extend
``email/_base.html``.

Make the :class:`jinja2.Environment` once with :func:`make_environment` (or use
:func:`default_environment`) and reuse it: it compiles and caches the templates.
A template that does not parse, names an undefined variable or is missing raises
:class:`~trialwatch.errors.ConfigError` as ``"<file>:<line>: <message>"``.

Template variables:

* digest emails: ``digest`` (:class:`~trialwatch.digest.model.Digest`),
  ``recipient`` (:class:`~trialwatch.digest.model.Recipient`) and ``greeting_name``
  (the recipient's name on one line, or ``None``);
* confirmation emails: ``recipient``, ``greeting_name``, ``confirm_url`` and
  ``watchlist_names`` (a tuple of str, maybe empty).

Filters: ``wrap(width=78, indent="", subsequent=None)`` re-flows plain text,
``longdate`` formats a date as "12 March 2026", ``shortdate`` as "12 Mar 2026",
``and_join`` joins names as "A, B and C", ``tel`` makes a phone number a
``tel:`` link target; test ``email_address`` tells whether a registry string can
be a ``mailto:`` link; global ``plural(count, singular, plural=None)`` gives
"1 trial", "2 trials".
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import markupsafe

import trialwatch
from trialwatch.digest.glossary import describe_status
from trialwatch.digest.model import Contact, Digest, Recipient
from trialwatch.errors import ConfigError

EMAIL_FOLDER = "email"
SUBJECT_MAX_LENGTH = 120
TEXT_WIDTH = 78
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL_RE = re.compile(
    r"[^@\s<>\"'(),;:?&=/\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}"
)
_NOT_DIALLED_RE = re.compile(r"[^0-9+]")


@dataclass(frozen=True)
class RenderedMessage:
    """The three parts of an email: a one-line subject, a plain-text and an HTML body."""

    subject: str
    text: str
    html: str


def default_template_dir(package_dir: Path | None = None) -> Path:
    """Return the template folder: inside the installed package, else in the source checkout.

    A wheel ships the repository's ``templates/`` as ``trialwatch/_templates``; a
    source checkout has it at the repository root, two levels above the package.
    ``package_dir`` (default: the ``trialwatch`` package folder) is for tests.
    """
    base = package_dir if package_dir is not None else Path(trialwatch.__file__).parent
    candidates = (base / "_templates", base.parent.parent / "templates")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        "email templates not found in "
        + " or ".join(str(c) for c in candidates)
        + "; set the templates setting (TRIALWATCH_TEMPLATES)"
    )


def wrap_text(
    text: object,
    width: int = TEXT_WIDTH,
    indent: str = "",
    subsequent: str | None = None,
    tail: str = "",
) -> str:
    """Re-flow ``text`` on one paragraph of lines at most ``width`` long where possible.

    Words (and URLs) are never broken, so a long one overflows. ``indent`` starts
    the first line, ``subsequent`` (default: as many spaces) the others; control
    characters become spaces. ``tail``
    (e.g. ``"(posted 4 Nov 2026)"``) follows the text and is kept on one line.
    """
    return _wrap(str(text), width, indent, subsequent, " ".join(tail.split()))


@functools.lru_cache(maxsize=4096)
def _wrap(text: str, width: int, indent: str, subsequent: str | None, tail: str = "") -> str:
    # Cached: thousands of digests repeat the same titles and change summaries.
    # Control characters (escape sequences, bells) from registry text become spaces.
    words = _CONTROL_RE.sub(" ", text).split() + ([tail] if tail else [])
    line = indent + " ".join(words)
    if len(line) <= width or not words:
        return line
    rest = " " * len(indent) if subsequent is None else subsequent
    lines: list[str] = []
    line = indent + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = rest + word
        else:
            line += " " + word
    lines.append(line)
    return "\n".join(lines)


def long_date(value: date) -> str:
    """Format a date without ambiguity: ``12 March 2026``."""
    return f"{value.day} {value:%B %Y}"


def short_date(value: date) -> str:
    """Format a date briefly without ambiguity: ``12 Mar 2026``."""
    return f"{value.day} {value:%b %Y}"


def is_email_address(value: object) -> bool:
    """Whether ``value`` is plainly one email address (safe to put after ``mailto:``)."""
    return isinstance(value, str) and _EMAIL_RE.fullmatch(value) is not None


def tel_target(phone: object) -> str:
    """The digits (and a leading +) of a phone number, for a ``tel:`` link."""
    text = str(phone)
    digits = _NOT_DIALLED_RE.sub("", text.partition(" ext. ")[0])
    return ("+" + digits.replace("+", "")) if digits.startswith("+") else digits.replace("+", "")


def contact_text(contact: Contact) -> str:
    """A contact on one line for the plain-text part: ``"Name, phone, email"``."""
    return ", ".join(part for part in (contact.name, contact.phone, contact.email) if part)


def and_join(names: Iterable[str]) -> str:
    """Join names as people write them: ``"A"``, ``"A and B"``, ``"A, B and C"``."""
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``"1 trial"`` or ``"2 trials"`` (``plural`` defaults to singular + "s")."""
    word = singular if count == 1 else (plural if plural is not None else singular + "s")
    return f"{count} {word}"


def clean_subject(raw: str) -> str:
    """Make a safe one-line subject: no control characters or line breaks, at most 120 chars."""
    subject = " ".join(_CONTROL_RE.sub(" ", raw).split())
    if len(subject) > SUBJECT_MAX_LENGTH:
        subject = subject[: SUBJECT_MAX_LENGTH - 1].rstrip() + "…"
    return subject


def one_line(name: str | None) -> str | None:
    """Return ``name`` on one line with single spaces, or ``None`` if it is blank."""
    if name is None:
        return None
    return " ".join(_CONTROL_RE.sub(" ", name).split()) or None


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Return the Jinja2 environment for emails, loading from ``template_dir``.

    ``template_dir`` defaults to :func:`default_template_dir`. HTML templates are
    autoescaped, text ones are not; undefined variables are errors. Templates are
    compiled once and cached; they are not reloaded when the files change.
    """
    directory = template_dir if template_dir is not None else default_template_dir()
    if not directory.is_dir():
        raise ConfigError(f"{directory}: template folder not found")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["wrap"] = wrap_text
    env.filters["longdate"] = long_date
    env.filters["shortdate"] = short_date
    env.filters["tel"] = tel_target
    env.tests["email_address"] = is_email_address
    env.filters["and_join"] = and_join
    env.globals["plural"] = plural
    env.globals["contact_text"] = contact_text
    env.globals["describe_status"] = describe_status
    return env


@functools.cache
def default_environment() -> jinja2.Environment:
    """Return a process-wide environment over :func:`default_template_dir`."""
    return make_environment()


def _innermost_template_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    # Jinja2 rewrites tracebacks so that template code shows as frames whose file
    # is the template file and whose line is the template line.
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.endswith(".py") and not filename.startswith("<"):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _config_error(env: jinja2.Environment, name: str, exc: jinja2.TemplateError) -> ConfigError:
    location: str
    if isinstance(exc, jinja2.TemplateSyntaxError):
        location = f"{exc.filename or name}:{exc.lineno}"
    else:
        frame = _innermost_template_frame(exc.__traceback__)
        if frame is not None:
            location = f"{frame[0]}:{frame[1]}"
        else:
            location = name
            if isinstance(env.loader, jinja2.FileSystemLoader):
                location = str(Path(env.loader.searchpath[0]) / name)
    message = str(exc)
    if isinstance(exc, jinja2.TemplateNotFound):
        message = f"template not found: {exc.name}"
    return ConfigError(f"{location}: {message}")


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateError as exc:
        raise _config_error(env, name, exc) from exc


def render_email(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> RenderedMessage:
    """Render the email called ``name`` (``email/<name>-subject.txt`` etc.) with ``context``."""
    prefix = f"{EMAIL_FOLDER}/{name}"
    return RenderedMessage(
        subject=clean_subject(_render(env, f"{prefix}-subject.txt", context)),
        text=_render(env, f"{prefix}-body.txt", context),
        html=_render(env, f"{prefix}-body.html", context),
    )


def render_digest(env: jinja2.Environment, digest: Digest) -> RenderedMessage:
    """Render a digest email."""
    return render_email(
        env,
        "digest",
        {
            "digest": digest,
            "recipient": digest.recipient,
            "greeting_name": one_line(digest.recipient.name),
        },
    )


# Placeholders for the recipient's own values in a digest rendered once for many
# recipients: random per process, so no registry text can contain them.
_MARK = secrets.token_hex(12)
_NAME_MARK = f"tw-name-{_MARK}"
_UNSUBSCRIBE_MARK = f"https://tw-unsubscribe-{_MARK}.invalid/"
_MANAGE_MARK = f"https://tw-manage-{_MARK}.invalid/"


@dataclass(frozen=True)
class DigestMould:
    """A digest rendered once with placeholders where each recipient's values go.

    Subscribers with the same preferences get the same digest content; rendering it
    once and filling in each one's name and links (:meth:`fill`) gives the same text
    as :func:`render_digest` for that recipient, for a fraction of the time. A mould
    is for recipients who, like the one it was made for, have a name or not and a
    manage link or not (:func:`mould_key`).
    """

    rendered: RenderedMessage
    key: tuple[bool, bool]

    def fill(self, recipient: Recipient) -> RenderedMessage:
        """The digest email for ``recipient``, whose :func:`mould_key` must match."""
        if mould_key(recipient) != self.key:
            raise ValueError("this mould is for recipients with(out) a name or manage link")
        name = one_line(recipient.name) or ""
        text_values = {
            _NAME_MARK: name,
            _UNSUBSCRIBE_MARK: recipient.unsubscribe_url,
            _MANAGE_MARK: recipient.manage_url or "",
        }
        text, html = self.rendered.text, self.rendered.html
        for mark, value in text_values.items():
            text = text.replace(mark, value)
            html = html.replace(mark, str(markupsafe.escape(value)))
        return RenderedMessage(subject=self.rendered.subject, text=text, html=html)


def mould_key(recipient: Recipient) -> tuple[bool, bool]:
    """Which :class:`DigestMould` fits a recipient: (has a name, has a manage link)."""
    return bool(one_line(recipient.name)), recipient.manage_url is not None


def render_digest_mould(env: jinja2.Environment, digest: Digest) -> DigestMould:
    """Render ``digest`` once for every recipient of :func:`mould_key` like its own."""
    has_name, has_manage = mould_key(digest.recipient)
    stand_in = dataclasses.replace(
        digest.recipient,
        name=_NAME_MARK if has_name else None,
        unsubscribe_url=_UNSUBSCRIBE_MARK,
        manage_url=_MANAGE_MARK if has_manage else None,
    )
    rendered = render_digest(env, dataclasses.replace(digest, recipient=stand_in))
    return DigestMould(rendered=rendered, key=(has_name, has_manage))


def render_confirmation(
    env: jinja2.Environment,
    recipient: Recipient,
    confirm_url: str,
    *,
    watchlist_names: Sequence[str] = (),
) -> RenderedMessage:
    """Render the double opt-in email asking ``recipient`` to open ``confirm_url``."""
    return render_email(
        env,
        "confirm",
        {
            "recipient": recipient,
            "greeting_name": one_line(recipient.name),
            "confirm_url": confirm_url,
            "watchlist_names": tuple(watchlist_names),
        },
    )
