"""Contact changes say what changed: a new phone, e-mail or name (AP-HP NCT06171568)."""

from __future__ import annotations

from typing import Any

from tests.diff.conftest import assert_values_match, load_pair, module, of_kind
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records
from trialwatch.words.terms import phone_words, role_words

GLIOMA = "NCT06171568.json"
SPAIN = "NCT03475563.json"


def _central(record: dict[str, Any]) -> list[dict[str, Any]]:
    contacts = module(record, "contactsLocationsModule")["centralContacts"]
    assert isinstance(contacts, list)
    return contacts


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = diff_records(old, new)
    assert_values_match(old, new, changes)
    return changes


def test_it_names_a_central_contacts_new_phone_and_email() -> None:
    """Camille Heslot's new number and address, as the registry lists them."""
    old, new = load_pair(GLIOMA)
    _central(new)[0].update(phone="01.49.95.81.70", email="c.heslot@aphp.fr")
    change = of_kind(_diff(old, new), "contact_changed")
    assert (change.summary, change.significance) == (
        "Contact Camille Heslot, MD: new phone +33 01.49.95.81.70, new email c.heslot@aphp.fr",
        "minor",
    )


def test_it_finds_a_renamed_contact_by_email() -> None:
    """A new name with the same e-mail is the same person: "new name", not added + removed."""
    old, new = load_pair(GLIOMA)
    _central(new)[0]["name"] = "Camille Heslot-Martin, MD"
    [change] = _diff(old, new)
    assert (change.kind, change.summary) == (
        "contact_changed",
        "Contact Camille Heslot, MD: new name Camille Heslot-Martin, MD",
    )
    assert change.field.endswith("centralContacts[Camille Heslot-Martin, MD]")


def test_it_says_when_a_phone_or_email_is_removed() -> None:
    """Details taken away read as removed; a role change is named."""
    old, new = load_pair(GLIOMA)
    contact = _central(new)[1]
    del contact["phone"], contact["phoneExt"], contact["email"]
    contact["role"] = "PRINCIPAL_INVESTIGATOR"
    change = of_kind(_diff(old, new), "contact_changed")
    assert change.summary == (
        "Contact Alexis Schnitzler, MD, PhD: phone removed, email removed,"
        " now principal investigator"
    )


def test_it_says_what_changed_in_a_sites_contacts() -> None:
    """Barcelona's site gains a contact and its investigator an e-mail."""
    old, new = load_pair(SPAIN)
    site = module(new, "contactsLocationsModule")["locations"][1]
    site["contacts"][0]["email"] = "iotaegui@vhebron.net"
    site["contacts"].append({"name": "Study Nurse", "role": "CONTACT", "phone": "934893000"})
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "site_updated",
        "Site in Barcelona, Spain: new contact Study Nurse;"
        " contact Imanol Otaegui, MD: new email iotaegui@vhebron.net",
        "minor",
    )


def test_it_says_a_sites_contact_was_removed() -> None:
    """A contact dropped from the Sabadell site."""
    old, new = load_pair(SPAIN)
    module(new, "contactsLocationsModule")["locations"][0]["contacts"] = []
    [change] = _diff(old, new)
    assert change.summary == "Site in Sabadell, Barcelona, Spain: contact Eduard Bosch, MD removed"


def test_it_writes_phones_and_roles_as_listed() -> None:
    """An extension that is a country code goes first; others follow "ext."."""
    assert phone_words("01.49.95.81.69", "+33") == "+33 01.49.95.81.69"
    assert phone_words("617-555-0100", "204") == "617-555-0100 ext. 204"
    assert phone_words("", "") == ""
    assert role_words("STUDY_DIRECTOR") == "study director"
    assert role_words("NEW_ROLE") == "new role"
    assert role_words(None) == "no role"


def test_it_reports_reordered_site_contacts_as_noise() -> None:
    """The same two contacts at the Paris site listed the other way round."""
    old, new = load_pair(GLIOMA)
    module(new, "contactsLocationsModule")["locations"][0]["contacts"].reverse()
    [change] = _diff(old, new)
    assert (change.kind, change.summary, change.significance) == (
        "site_updated",
        "Site details updated: Paris, Ile-de-France, France",
        "noise",
    )


def test_it_falls_back_when_site_contacts_are_not_a_list() -> None:
    """Contacts of an odd shape still give a minor line, without details."""
    old, new = load_pair(GLIOMA)
    module(new, "contactsLocationsModule")["locations"][0]["contacts"] = "see website"
    [change] = _diff(old, new)
    assert change.summary == "Site contacts updated: Paris, Ile-de-France, France"
