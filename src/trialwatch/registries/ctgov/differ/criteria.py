"""Eligibility criteria compared line by line (``eligibilityModule.eligibilityCriteria``).

The registry keeps the criteria as one Markdown text: headings such as
"Inclusion Criteria:" and "Key Exclusion Criteria:", then bulleted or numbered
lines. A reader needs the lines that came or went, under their heading: "New
exclusion: IVIg within 12 weeks before screening". Lines are compared without
their bullets, numbering, Markdown escapes, case, spacing and final full stop, so
a text only reformatted is noise. Lines added or removed are major: who can take
part is what a patient watches a trial for (see :mod:`trialwatch.registries.ctgov.differ.changes`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from trialwatch.diff.model import Change, said

_HEADING = re.compile(
    r"(?:key |main |major |other )?(inclusion|exclusion)(?: criteria)?(?: for \w+)?\s*:?"
)
_BULLET = re.compile(
    r"(?:[*\-•·+]+|\(?\d{1,3}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])\s+", re.IGNORECASE
)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>^~|=])")

Line = tuple[str, str]
"""(section, text as shown); section is "inclusion", "exclusion" or "" before any heading."""


def criteria_lines(text: str) -> list[Line]:
    """The criteria lines of ``text``, each with the section it stands in."""
    section = ""
    lines: list[Line] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        while (bullet := _BULLET.match(line)) is not None:
            line = line[bullet.end() :]
        line = _ESCAPE.sub(r"\1", line).strip()
        if not line:
            continue
        heading = _HEADING.fullmatch(line.casefold())
        if heading is not None:
            section = heading.group(1)
            continue
        lines.append((section, line))
    return lines


def _key(line: Line) -> Line:
    return line[0], line[1].casefold().rstrip(" .;,")


def criteria_change(path: str, old: Any, new: Any) -> list[Change] | None:
    """One ``eligibility_criteria`` change naming the lines added and removed."""
    if not isinstance(old, str | None) or not isinstance(new, str | None):
        return None
    if not old or not new:
        message = "criteria_added" if new else "criteria_removed"
        return [said("eligibility_criteria", path, old, new, message, {}, "major")]
    before, after = criteria_lines(old), criteria_lines(new)
    old_keys, new_keys = Counter(map(_key, before)), Counter(map(_key, after))
    added = _only(after, new_keys - old_keys)
    removed = _only(before, old_keys - new_keys)
    if not added and not removed:
        return [said("eligibility_criteria", path, old, new, "criteria_reformatted", {}, "noise")]
    params = {"added": [list(line) for line in added], "removed": [list(line) for line in removed]}
    return [said("eligibility_criteria", path, old, new, "criteria_changed", params, "major")]


def _only(lines: list[Line], wanted: Counter[Line]) -> list[Line]:
    """The lines whose keys are in ``wanted`` (as many times as counted), in text order."""
    left = Counter(wanted)
    found = []
    for line in lines:
        key = _key(line)
        if left[key] > 0:
            left[key] -= 1
            found.append(line)
    return found
