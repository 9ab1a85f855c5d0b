"""Email templates: the Jinja environment, filters, and rendering an email in a locale.

Pure, except that it reads the template files. An email is named by a key, and
each key has three templates per locale under ``email/<locale>/`` in the template
folder: ``<name>-subject.txt``, ``<name>-body.txt`` and ``<name>-body.html``
(``digest``, ``confirm`` and ``alert`` today). A locale without its own template
reads the English one (``email/en/``). HTML templates extend ``email/en/_base.html``
(or their locale's own base).

Make the :class:`jinja2.Environment` once with :func:`make_environment` (or use
:func:`default_environment`) and reuse it: it compiles and caches the templates.
A template that does not parse, names an undefined variable or is missing raises
:class:`~trialwatch.errors.ConfigError` as ``"<file>:<line>: <message>"``.

Filters: ``wrap(width=78, indent="", subsequent=None)`` re-flows plain text,
``longdate`` formats a date as "12 March 2026", ``shortdate`` as "12 Mar 2026",
``and_join`` joins names as "A, B and C", ``tel`` makes a phone number a
``tel:`` link target; test ``email_address`` tells whether a registry string can
be a ``mailto:`` link; global ``plural(count, singular, plural=None)`` gives
"1 trial", "2 trials". What an email of one kind needs besides (the digest's
helpers) comes in its context.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

import trialwatch
from trialwatch.errors import ConfigError
from trialwatch.words import DEFAULT_LOCALE, supported
from trialwatch.words.mail import and_join, plural

EMAIL_FOLDER = "email"
SUBJECT_MAX_LENGTH = 120
TEXT_WIDTH = 78
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL_RE = re.compile(
    r"[^@\s<>\"'(),;:?&=/\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}"
)
_NOT_DIALLED_RE = re.compile(r"[^0-9+]")

__all__ = [
    "EMAIL_FOLDER",
    "RenderedMessage",
    "and_join",
    "clean_subject",
    "default_environment",
    "default_template_dir",
    "make_environment",
    "one_line",
    "plural",
    "render_email",
    "wrap_text",
]


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


def render_email(
    env: jinja2.Environment,
    name: str,
    context: Mapping[str, Any],
    locale: str | None = DEFAULT_LOCALE,
) -> RenderedMessage:
    """Render the email called ``name`` in ``locale`` with ``context``.

    Each part is ``email/<locale>/<name>-subject.txt`` (and ``-body.txt``,
    ``-body.html``), else the default locale's (``email/en/...``): a locale
    TrialWatch does not speak, or a part not translated, reads the English one.
    """
    return RenderedMessage(
        subject=clean_subject(_render(env, _part(env, name, "subject.txt", locale), context)),
        text=_render(env, _part(env, name, "body.txt", locale), context),
        html=_render(env, _part(env, name, "body.html", locale), context),
    )


def _part(env: jinja2.Environment, name: str, part: str, locale: str | None) -> str:
    """The template of one part of email ``name`` for ``locale``: its own, else English."""
    wanted = supported(locale)
    if wanted != DEFAULT_LOCALE:
        own = f"{EMAIL_FOLDER}/{wanted}/{name}-{part}"
        try:
            env.get_template(own)
        except jinja2.TemplateNotFound:
            pass
        except jinja2.TemplateError:  # there but broken: rendering it names the file
            return own
        else:
            return own
    return f"{EMAIL_FOLDER}/{DEFAULT_LOCALE}/{name}-{part}"
