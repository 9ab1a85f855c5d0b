"""What changed about a contact, in words: a new phone, a new e-mail, a new name.

Used for the study's central contacts and for each site's contacts. Only what
the registry shows is repeated: the name, phone (with its extension) and e-mail
as given. Contacts are matched by name (else e-mail, else phone); a contact whose
name changed is found again by the same e-mail or phone.
"""

from __future__ import annotations

import re
from typing import Any

from trialwatch.diff.keys import contact_label
from trialwatch.diff.labels import clip, some_of
from trialwatch.diff.lists import Item, ItemNouns, match
from trialwatch.diff.pairing import pair_up

_ROLE_WORDS = {
    "STUDY_CHAIR": "study chair",
    "STUDY_DIRECTOR": "study director",
    "PRINCIPAL_INVESTIGATOR": "principal investigator",
    "SUB_INVESTIGATOR": "sub-investigator",
    "CONTACT": "contact",
}
_NOT_DIGIT = re.compile(r"\D")


def role_words(role: Any) -> str:
    """``"PRINCIPAL_INVESTIGATOR"`` -> ``"principal investigator"``."""
    if isinstance(role, str) and role in _ROLE_WORDS:
        return _ROLE_WORDS[role]
    return str(role or "no role").replace("_", " ").lower()


def contact_name(contact: Item) -> str:
    """The contact's name, else e-mail, else phone; ``"unnamed"`` when none."""
    return clip(contact_label(contact), 50) or "unnamed"


def phone_words(contact: Item) -> str:
    """The phone as listed, with its extension: a leading ``+`` one is a country code."""
    phone = " ".join(str(contact.get("phone") or "").split())
    ext = " ".join(str(contact.get("phoneExt") or "").split())
    if not ext:
        return phone
    if ext.startswith("+"):
        return f"{ext} {phone}".strip()
    return f"{phone} ext. {ext}".strip()


def _same_reach(old: Item, new: Item) -> float | None:
    """Two contacts of different names reached at one e-mail or phone number."""
    email = str(old.get("email") or "").casefold()
    if email and email == str(new.get("email") or "").casefold():
        return 1.0
    phone = _NOT_DIGIT.sub("", str(old.get("phone") or ""))
    if len(phone) >= 6 and phone == _NOT_DIGIT.sub("", str(new.get("phone") or "")):
        return 0.5
    return None


def contact_edits(before: Item, after: Item) -> list[str]:
    """``["new phone +33 01.49.95.81.69", "new email x@y.org"]``: what changed, in order."""
    edits: list[str] = []
    if contact_label(before).casefold() != contact_label(after).casefold() and after.get("name"):
        edits.append(f"new name {clip(str(after['name']), 50)}")
    if phone_words(before) != phone_words(after):
        phone = phone_words(after)
        edits.append(f"new phone {phone}" if phone else "phone removed")
    if before.get("email") != after.get("email"):
        edits.append(f"new email {after['email']}" if after.get("email") else "email removed")
    if before.get("role") != after.get("role"):
        edits.append(f"now {role_words(after.get('role'))}")
    return edits or ["details updated"]


def contacts_words(old: Any, new: Any, limit: int) -> str | None:
    """A site's contact changes in one phrase; ``None`` when not lists of contacts."""
    matched = match(old, new, contact_label)
    if matched is None:
        return None
    pairs, removed, added = pair_up(matched.removed, matched.added, _same_reach)
    parts = [f"new contact {contact_name(item)}" for _, item in added]
    for _, before, after in [*matched.changed, *pairs]:
        parts.append(f"contact {contact_name(before)}: {', '.join(contact_edits(before, after))}")
    parts += [f"contact {contact_name(item)} removed" for _, item in removed]
    return some_of(parts, limit) if parts else None


def _central_edited(before: Item, after: Item) -> str:
    return f"Contact {contact_name(before)}: {', '.join(contact_edits(before, after))}"


CONTACTS = ItemNouns("contact", contact_name, score=_same_reach, edited=_central_edited)
"""The study's central contacts: one found again by e-mail or phone under a new name."""


def _official(item: Item) -> str:
    name = clip(" ".join(str(item.get("name") or "unnamed").split()), 50)
    affiliation = " ".join(str(item.get("affiliation") or "").split())
    return f"{name} ({clip(affiliation, 50)})" if affiliation else name


def _official_added(item: Item) -> str:
    role = role_words(item["role"]) if item.get("role") else "official"
    return f"New {role}: {_official(item)}"


def _official_edited(before: Item, after: Item) -> str | None:
    edits = []
    if before.get("role") != after.get("role"):
        edits.append(f"now {role_words(after.get('role'))}")
    if before.get("affiliation") != after.get("affiliation"):
        affiliation = " ".join(str(after.get("affiliation") or "").split())
        edits.append(
            f"new affiliation {clip(affiliation, 50)}" if affiliation else "affiliation removed"
        )
    name = clip(" ".join(str(after.get("name") or "unnamed").split()), 50)
    return f"Official {name}: {', '.join(edits)}" if edits else None


OFFICIALS = ItemNouns(
    "official",
    _official,
    added=_official_added,
    removed=lambda item: f"Official removed: {_official(item)}",
    edited=_official_edited,
)
"""The study's overall officials: "New principal investigator: …", "Official removed: …"."""
