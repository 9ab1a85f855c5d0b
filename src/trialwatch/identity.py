"""One trial, several registrations: registry IDs found in what a record says.

A trial registered on ClinicalTrials.gov and in EU CTIS (or EudraCT, or ISRCTN) is
two records. They are linked only on a **registry-ID edge**: a record naming
another registry's ID for itself (CT.gov ``secondaryIdInfos``, CTIS
``nctNumber`` and ``eudraCt.eudraCtCode``). A sponsor's protocol code is a hint,
never proof, and records are never merged: each link remembers who asserted it.

IDs come as free text, often with prefixes ("EudraCT 2009-011277-33"); they are
found with the registries' own patterns:

- NCT (ClinicalTrials.gov): ``NCT`` and 8 digits;
- EU CT (CTIS): ``yyyy-5nnnnn-nn-nn`` (the last two digits count resubmissions);
- EudraCT: ``yyyy-nnnnnn-nn`` (a trial moved into CTIS keeps it);
- ISRCTN: ``ISRCTN`` and 8 digits.

Pure: no I/O.

>>> [(i.registry, i.id) for i in registry_ids("EudraCT 2009-011277-33; nct 01234567")]
[('eudract', '2009-011277-33'), ('ctgov', 'NCT01234567')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from trialwatch.trial import OtherId

# Order matters: an EU CT number starts like an EudraCT one, so it is tried first.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ctgov", re.compile(r"(?<![A-Z0-9])NCT[\s_-]?(\d{8})(?!\d)", re.IGNORECASE)),
    ("ctis", re.compile(r"(?<![\d-])(\d{4}-5\d{5}-\d{2}-\d{2})(?![\d-])")),
    ("eudract", re.compile(r"(?<![\d-])(\d{4}-\d{6}-\d{2})(?![\d-])")),
    ("isrctn", re.compile(r"(?<![A-Z0-9])ISRCTN[\s_-]?(\d{8})(?!\d)", re.IGNORECASE)),
)
_PREFIXES = {"ctgov": "NCT", "isrctn": "ISRCTN"}


@dataclass(frozen=True, slots=True, order=True)
class RegistryId:
    """A trial's ID in a registry: ``("ctis", "2023-505613-24-00")``."""

    registry: str
    id: str


def registry_ids(text: str) -> list[RegistryId]:
    """Every registry ID in ``text``, in order of appearance, each once."""
    found: list[tuple[int, RegistryId]] = []
    taken: list[range] = []
    for registry, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            span = range(match.start(), match.end())
            if any(span.start < t.stop and t.start < span.stop for t in taken):
                continue  # an EudraCT pattern inside an EU CT number already found
            taken.append(span)
            found.append((match.start(), RegistryId(registry, _canonical(registry, match))))
    seen: set[RegistryId] = set()
    ordered: list[RegistryId] = []
    for _, rid in sorted(found, key=lambda pair: pair[0]):
        if rid not in seen:
            seen.add(rid)
            ordered.append(rid)
    return ordered


def _canonical(registry: str, match: re.Match[str]) -> str:
    prefix = _PREFIXES.get(registry)
    return f"{prefix}{match.group(1)}" if prefix else match.group(1)


def links_of(own: RegistryId, other_ids: Iterable[OtherId]) -> list[RegistryId]:
    """The registrations a record names for itself, other than its own ID.

    Each identifier's text is searched with the registries' patterns, whatever
    type the registry gave it (CT.gov types EU numbers as ``EUDRACT_NUMBER``,
    ``CTIS``, ``REGISTRY`` or ``OTHER``); a text with no registry ID (a sponsor's
    protocol code, a grant number) links nothing.
    """
    links: list[RegistryId] = []
    for other in other_ids:
        for rid in registry_ids(other.id):
            if rid != own and rid not in links:
                links.append(rid)
    return links
