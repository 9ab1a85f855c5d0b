"""Changes in a CTIS trial's Part I: eligibility lines, titles, conditions, sponsor contacts.

- Eligibility: ``principalInclusionCriteria[]`` and ``principalExclusionCriteria[]``,
  each an item of text (in ``number`` order). Lines are compared without bullets,
  numbering, case, spacing and a final full stop: lines added or removed are
  major (who can take part; as for CT.gov), a text only reformatted is noise.
- Titles (``publicTitle``, ``fullTitle``, said as the title and the official
  title) and conditions (``medicalConditions[].medicalCondition``): minor.
- Sponsor contacts (``sponsors[].publicContacts`` and ``scientificContacts``; one
  person listed as both is one contact): added, removed or changed, minor. A
  contact whose name changed is found again by its e-mail or phone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from trialwatch.diff.keys import canonical, item_field, join_parts
from trialwatch.diff.lists import Item, conditions_change, match
from trialwatch.diff.model import Change, said
from trialwatch.diff.pairing import pair_up
from trialwatch.registries.ctis.differ.normal import at, items

PART_I = ("authorizedApplication", "authorizedPartI")
CRITERIA = (*PART_I, "trialDetails", "trialInformation", "eligibilityCriteria")
IDENTIFIERS = (*PART_I, "trialDetails", "clinicalTrialIdentifiers")
CONTACTS_FIELD = ".".join((*PART_I, "sponsors", "contacts"))
SECTIONS = (
    ("inclusion", "principalInclusionCriteria"),
    ("exclusion", "principalExclusionCriteria"),
)
"""Each eligibility section: its code in a change, and its key (the list's and the text's)."""
TITLES = (("brief", "publicTitle"), ("official", "fullTitle"))

_BULLET = re.compile(r"(?:[*\-•·+]+|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+", re.IGNORECASE)
_NOT_DIGIT = re.compile(r"\D")


def _collapsed(value: Any) -> str:
    return " ".join(str(value or "").split())


def criteria_lines(rec: Mapping[str, Any]) -> list[list[str]]:
    """``[[section, line], ...]``: each criterion's lines, sections in order, items by number."""
    lines: list[list[str]] = []
    for section, key in SECTIONS:
        entries = sorted(
            items(rec, *CRITERIA, key),
            key=lambda item: (str(type(item.get("number"))), item.get("number") or 0),
        )
        for entry in entries:
            for raw in str(entry.get(key) or "").splitlines():
                line = _collapsed(raw)
                while (bullet := _BULLET.match(line)) is not None:
                    line = line[bullet.end() :]
                if line:
                    lines.append([section, line])
    return lines


def _line_key(line: list[str]) -> tuple[str, str]:
    return line[0], line[1].casefold().rstrip(" .;,")


def _only(lines: list[list[str]], wanted: Counter[tuple[str, str]]) -> list[list[str]]:
    left = Counter(wanted)
    found = []
    for line in lines:
        if left[_line_key(line)] > 0:
            left[_line_key(line)] -= 1
            found.append(line)
    return found


def criteria_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """One ``eligibility_criteria`` change naming the lines added and removed."""
    before, after = criteria_lines(old), criteria_lines(new)
    if before == after:
        return []
    path = ".".join(CRITERIA)
    if not before or not after:
        message = "criteria_added" if after else "criteria_removed"
        return [said("eligibility_criteria", path, before, after, message, {}, "major")]
    old_keys, new_keys = Counter(map(_line_key, before)), Counter(map(_line_key, after))
    params = {
        "added": _only(after, new_keys - old_keys),
        "removed": _only(before, old_keys - new_keys),
    }
    if not params["added"] and not params["removed"]:
        message = "criteria_reformatted"
        return [said("eligibility_criteria", path, before, after, message, {}, "noise")]
    message = "criteria_changed"
    return [said("eligibility_criteria", path, before, after, message, params, "major")]


def title_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The public and full titles edited (minor)."""
    changes = []
    for which, key in TITLES:
        before = _collapsed(at(old, *IDENTIFIERS, key))
        after = _collapsed(at(new, *IDENTIFIERS, key))
        if before == after:
            continue
        field, kind = ".".join((*IDENTIFIERS, key)), f"{which}_title"
        if after:
            params = {"which": which, "text": after}
            changes.append(said(kind, field, before, after, "title_changed", params, "minor"))
        else:
            params = {"which": which}
            changes.append(said(kind, field, before, None, "title_removed", params, "minor"))
    return changes


def conditions(rec: Mapping[str, Any]) -> list[str]:
    """The trial's medical conditions, as written."""
    return [
        _collapsed(item.get("medicalCondition"))
        for item in items(rec, *PART_I, "medicalConditions")
        if _collapsed(item.get("medicalCondition"))
    ]


def condition_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Conditions added and removed, as one minor change."""
    path = ".".join((*PART_I, "medicalConditions"))
    return conditions_change(path, conditions(old), conditions(new)) or []


# --- sponsor contacts ---------------------------------------------------------------------------


def contacts(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sponsors' public and scientific contacts, one per person (name, e-mail, phone)."""
    found: dict[tuple[str, str, str], list[Any]] = {}
    for sponsor in items(rec, *PART_I, "sponsors"):
        for role in ("publicContacts", "scientificContacts"):
            for contact in items(sponsor, role):
                key = (
                    _collapsed(contact.get("functionalName")),
                    _collapsed(contact.get("functionalEmailAddress")),
                    _collapsed(contact.get("telephone")),
                )
                found.setdefault(key, []).append(contact)
    return [
        {
            "name": name or None,
            "email": email or None,
            "phone": phone or None,
            "as": sorted(raws, key=canonical),
        }
        for (name, email, phone), raws in sorted(found.items())
    ]


def _contact_label(contact: Item) -> str:
    return join_parts(contact.get("name")) or join_parts(contact.get("email"), contact.get("phone"))


def _same_reach(old: Item, new: Item) -> float | None:
    """Two contacts of different names reached at one e-mail or phone number."""
    email = str(old.get("email") or "").casefold()
    if email and email == str(new.get("email") or "").casefold():
        return 1.0
    phone = _NOT_DIGIT.sub("", str(old.get("phone") or ""))
    if len(phone) >= 6 and phone == _NOT_DIGIT.sub("", str(new.get("phone") or "")):
        return 0.5
    return None


def _edits(before: Item, after: Item) -> list[list[Any]]:
    edits: list[list[Any]] = []
    if _collapsed(before.get("name")).casefold() != _collapsed(after.get("name")).casefold():
        edits.append(["name", after.get("name") or ""])
    if _NOT_DIGIT.sub("", str(before.get("phone") or "")) != _NOT_DIGIT.sub(
        "", str(after.get("phone") or "")
    ):
        edits.append(["phone", after.get("phone") or "", ""])
    if str(before.get("email") or "").casefold() != str(after.get("email") or "").casefold():
        edits.append(["email", after.get("email")])
    return edits or [["details"]]


def contact_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Sponsor contacts added, removed or changed (minor)."""
    matched = match(contacts(old), contacts(new), _contact_label)
    if not matched:
        return []
    pairs, removed, added = pair_up(matched.removed, matched.added, _same_reach)
    changes = []
    for label, contact in added:
        field, params = item_field(CONTACTS_FIELD, label), {"name": label}
        changes.append(
            said("contact_added", field, None, contact, "contact_added", params, "minor")
        )
    for label, contact in removed:
        field, params = item_field(CONTACTS_FIELD, label), {"name": label}
        changes.append(
            said("contact_removed", field, contact, None, "contact_removed", params, "minor")
        )
    for label, before, after in [*matched.changed, *pairs]:
        field = item_field(CONTACTS_FIELD, label)
        edited: dict[str, Any] = {"name": _contact_label(before), "edits": _edits(before, after)}
        changes.append(
            said("contact_changed", field, before, after, "contact_changed", edited, "minor")
        )
    return changes
