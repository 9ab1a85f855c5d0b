"""What changed about a contact: a new phone, a new e-mail, a new name.

Used for the study's central contacts and for each site's contacts. Only what
the registry shows is repeated: the name, phone (with its extension) and e-mail
as given. Contacts are matched by name (else e-mail, else phone); a contact whose
name changed is found again by the same e-mail or phone.

An edit is a list, its code first: ``["name", name]``, ``["phone", phone, ext]``,
``["email", email]``, ``["role", role]``, ``["affiliation", affiliation]`` or
``["details"]`` (see :mod:`trialwatch.words.items`).
"""

from __future__ import annotations

import re
from typing import Any

from trialwatch.diff.lists import Item, ItemNouns, Said, match
from trialwatch.diff.pairing import pair_up
from trialwatch.registries.ctgov.differ.keys import contact_label
from trialwatch.words.terms import collapsed, phone_words

_NOT_DIGIT = re.compile(r"\D")


def _phone(contact: Item) -> tuple[str, str]:
    return collapsed(contact.get("phone")), collapsed(contact.get("phoneExt"))


def _same_reach(old: Item, new: Item) -> float | None:
    """Two contacts of different names reached at one e-mail or phone number."""
    email = str(old.get("email") or "").casefold()
    if email and email == str(new.get("email") or "").casefold():
        return 1.0
    phone = _NOT_DIGIT.sub("", str(old.get("phone") or ""))
    if len(phone) >= 6 and phone == _NOT_DIGIT.sub("", str(new.get("phone") or "")):
        return 0.5
    return None


def contact_edits(before: Item, after: Item) -> list[list[Any]]:
    """``[["phone", "+33 01.49.95.81.69", ""], ["email", "x@y.org"]]``: what changed, in order."""
    edits: list[list[Any]] = []
    if contact_label(before).casefold() != contact_label(after).casefold() and after.get("name"):
        edits.append(["name", after["name"]])
    if phone_words(*_phone(before)) != phone_words(*_phone(after)):
        edits.append(["phone", *_phone(after)])
    if before.get("email") != after.get("email"):
        edits.append(["email", after.get("email") or None])
    if before.get("role") != after.get("role"):
        edits.append(["role", after.get("role")])
    return edits or [["details"]]


def contacts_parts(old: Any, new: Any) -> list[list[Any]] | None:
    """A site's contact changes, each ``["added"|"changed"|"removed", name, (edits)]``.

    ``None`` when the values are not lists of contacts.
    """
    matched = match(old, new, contact_label)
    if matched is None:
        return None
    pairs, removed, added = pair_up(matched.removed, matched.added, _same_reach)
    parts: list[list[Any]] = [["added", contact_label(item)] for _, item in added]
    for _, before, after in [*matched.changed, *pairs]:
        parts.append(["changed", contact_label(before), contact_edits(before, after)])
    parts += [["removed", contact_label(item)] for _, item in removed]
    return parts


def _contact(item: Item) -> dict[str, Any]:
    return {"name": contact_label(item)}


def _central_edited(before: Item, after: Item) -> Said:
    return "contact_changed", {"name": contact_label(before), "edits": contact_edits(before, after)}


CONTACTS = ItemNouns("contact", _contact, score=_same_reach, edited=_central_edited)
"""The study's central contacts: one found again by e-mail or phone under a new name."""


def _official(item: Item) -> dict[str, Any]:
    return {
        "name": item.get("name"),
        "affiliation": item.get("affiliation"),
        "role": item.get("role"),
    }


def _official_edited(before: Item, after: Item) -> Said | None:
    edits: list[list[Any]] = []
    if before.get("role") != after.get("role"):
        edits.append(["role", after.get("role")])
    if before.get("affiliation") != after.get("affiliation"):
        edits.append(["affiliation", collapsed(after.get("affiliation"))])
    return ("official_changed", {"name": after.get("name"), "edits": edits}) if edits else None


OFFICIALS = ItemNouns("official", _official, edited=_official_edited)
"""The study's overall officials: "New principal investigator: …", "Official removed: …"."""
