"""The EU CTIS differ: the recorded 2024 → 2026 pair, noise, drift and constructed changes."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialwatch.diff import KINDS, Change
from trialwatch.registries.ctis.differ import diff_records
from trialwatch.words.changes import CATALOGUE, describe

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ctis"
OLD = "ctrdata-demo_CTIS_2023-505613-24-00_imported-2024-06-23.json"
NEW = "ctrdata-demo_CTIS_2023-505613-24-00_imported-2026-03-08.json"

Record = dict[str, Any]


@cache
def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Record:
    """A fresh copy of a recorded retrieve record (ctrdata's stored document)."""
    record: Record = orjson.loads(_load(name))
    return record


def summaries(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(change.significance, change.kind, change.summary) for change in changes]


def part_ii(record: Record, country: str) -> Record:
    parts = record["authorizedApplication"]["authorizedPartsII"]
    found: Record = next(p for p in parts if p["mscInfo"]["countryName"] == country)
    return found


def state(record: Record, country: str) -> Record:
    states = record["authorizedApplication"]["memberStatesConcerned"]
    found: Record = next(s for s in states if s["mscName"] == country)
    return found


def trial_information(record: Record) -> Record:
    info: Record = record["authorizedApplication"]["authorizedPartI"]["trialDetails"][
        "trialInformation"
    ]
    return info


# --- the recorded pair --------------------------------------------------------------------


def test_the_recorded_pair_reads_right() -> None:
    """2024 → 2026: a site gone, an investigator replaced, two recruitment starts re-dated, and
    the rest (decisions, modifications, documents, listing fields) as one noise line per part;
    nothing from ids, order, HTML entities or the API's drift (statuses and countries agree)."""
    changes = diff_records(load(OLD), load(NEW))
    assert summaries(changes) == [
        ("minor", "site_removed", "Site removed: Olsztyn, Poland"),
        (
            "minor",
            "site_updated",
            "Site in Thessaloniki, Greece: investigator Emmanouel Roilides → Elias Iosifidis",
        ),
        (
            "minor",
            "trial_event",
            "Belgium: recruitment started 31 October 2021 → 31 October 2022",
        ),
        ("minor", "trial_event", "Poland: recruitment started 24 March 2023 → 22 May 2025"),
        ("noise", "other", "Registry listing details updated"),
        ("noise", "other", "Applications and decisions updated"),
        ("noise", "other", "Trial details updated"),
        ("noise", "other", "Country details updated"),
        ("noise", "other", "Trial documents updated"),
    ]
    assert [change.field for change in changes] == [
        "authorizedApplication.authorizedPartsII.trialSites[ORG-100048872]",
        "authorizedApplication.authorizedPartsII.trialSites[ORG-100043282]",
        "events.trialEvents[Belgium|START_OF_RECRUITMENT]",
        "events.trialEvents[Poland|START_OF_RECRUITMENT]",
        "",
        "authorizedApplication",
        "authorizedApplication.authorizedPartI",
        "authorizedApplication.authorizedPartsII",
        "documents",
    ]


def test_the_recorded_pair_says_no_status_or_country_change_despite_the_drift() -> None:
    """``ctStatus`` "Authorised" → 4 and ``trialCountries`` text → list mean the same: no change;
    the Athens site's ``&apos;`` → ``'`` is no correction."""
    changes = diff_records(load(OLD), load(NEW))
    kinds = {change.kind for change in changes}
    assert not kinds & {"overall_status", "country_status", "country_added", "country_removed"}
    assert not any("Athens" in change.summary for change in changes)


def test_the_params_of_the_recorded_pair_are_codes() -> None:
    """Message and params, not words: the investigator change and a re-dated notice."""
    changes = diff_records(load(OLD), load(NEW))
    said = {
        (change.message, orjson.dumps(change.params, option=orjson.OPT_SORT_KEYS))
        for change in changes
    }
    assert (
        "ctis_event_date_changed",
        orjson.dumps(
            {"country": "Poland", "event": "START_OF_RECRUITMENT", "from": "2023-03-24",
             "to": "2025-05-22"},
            option=orjson.OPT_SORT_KEYS,
        ),
    ) in said  # fmt: skip


# --- no change, new trial -------------------------------------------------------------------


def test_a_record_against_itself_is_no_change() -> None:
    """Both recorded versions, each against itself (and a copy of itself)."""
    for name in (OLD, NEW):
        assert diff_records(load(name), load(name)) == []


def _renumbered(value: Any, rng: random.Random) -> Any:
    """``value`` with every ``id`` and ``…Id`` number changed and translation uuids renewed."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if (key == "id" or key.endswith("Id")) and type(item) is int:
                out[key] = rng.randrange(1, 10**9)
            elif key == "uuid" and "attributeTranslation" in value:
                out[key] = f"{rng.getrandbits(128):032x}"
            else:
                out[key] = _renumbered(item, rng)
        return out
    if isinstance(value, list):
        return [_renumbered(item, rng) for item in value]
    return value


def test_republication_noise_is_no_change() -> None:
    """publishDate moved, nested ids renumbered, translation uuids renewed, and trialSites,
    applicationInfo, documents and member states shuffled: ``[]`` (not even noise)."""
    rng = random.Random(19)
    for name in (OLD, NEW):
        record = _renumbered(load(name), rng)
        record["publishDate"] = "2027-01-01T03:00:00.000000000"
        record["record_last_import"] = "2027-01-02 00:00:00"
        application = record["authorizedApplication"]
        for part in application["authorizedPartsII"]:
            rng.shuffle(part["trialSites"])
        for key in ("authorizedPartsII", "applicationInfo", "memberStatesConcerned"):
            rng.shuffle(application[key])
        rng.shuffle(record["documents"])
        assert diff_records(load(name), record) == []


def test_a_new_trial_is_one_new_study_change() -> None:
    """old=None: one major ``new_study`` naming the trial, its sponsor's code and status."""
    changes = diff_records(None, load(NEW))
    assert summaries(changes) == [
        (
            "major",
            "new_study",
            'New trial: "Posaconazole (MK-5592) IV and oral in children (less than 2 years)…"'
            " (MK-5592-127) — Ongoing, recruiting",
        )
    ]
    assert changes[0].params["id"] == "2023-505613-24-00"
    assert changes[0].params["status"] == 4


# --- constructed changes (from the 2026 record) ---------------------------------------------


def _with_italy(record: Record, status: int = 2) -> Record:
    """The 2026 record with Italy added as a member state: a part II, a site, its status."""
    italy = copy.deepcopy(part_ii(record, "Poland"))
    italy["mscInfo"]["countryName"] = italy["mscInfo"]["mscName"] = "Italy"
    site = italy["trialSites"][0]
    site["organisationAddressInfo"]["organisation"]["businessKey"] = "ORG-999999999"
    site["organisationAddressInfo"]["organisation"]["name"] = "Ospedale Pediatrico"
    site["organisationAddressInfo"]["address"].update(city="Milan", countryName="Italy")
    application = record["authorizedApplication"]
    application["authorizedPartsII"].append(italy)
    entry = {**state(record, "Poland"), "mscName": "Italy", "mscPublicStatusCode": status}
    application["memberStatesConcerned"].append(entry)
    record["trialCountries"].append(f"Italy:{status}")
    return record


def test_a_new_country_says_itself_its_status_and_its_sites() -> None:
    """Italy added, authorised and pending recruitment: the country and its site, both major."""
    changes = diff_records(load(NEW), _with_italy(load(NEW)))
    assert summaries(changes) == [
        ("major", "country_added", "Now also in Italy (Authorised, recruitment pending)"),
        ("major", "site_added", "New site: Milan, Italy"),
    ]


def test_a_country_gone_is_minor() -> None:
    """Italy leaving again: the country and its site, minor."""
    changes = diff_records(_with_italy(load(NEW)), load(NEW))
    assert summaries(changes) == [
        ("minor", "country_removed", "No longer in Italy"),
        ("minor", "site_removed", "Site removed: Milan, Italy"),
    ]


def test_the_status_and_a_country_s_status_change() -> None:
    """The trial's public status and Poland's, in CTIS's words."""
    new = load(NEW)
    new["ctPublicStatusCode"] = new["ctStatus"] = 5
    state(new, "Poland")["mscPublicStatusCode"] = 6
    new["trialCountries"] = ["Poland:6", "Belgium:4", "Greece:4"]
    state(new, "Belgium")["mscPublicStatusCode"] = 5
    new["trialCountries"][1] = "Belgium:5"
    assert summaries(diff_records(load(NEW), new)) == [
        ("major", "overall_status", "Status: Ongoing, recruiting → Ongoing, recruitment ended"),
        ("major", "country_status", "Poland: Ongoing, recruiting → Temporarily halted"),
        ("minor", "country_status", "Belgium: Ongoing, recruiting → Ongoing, recruitment ended"),
    ]


def test_a_country_s_status_from_the_2024_search_text() -> None:
    """Against the 2024 record, whose countries' statuses are only in ``trialCountries`` text."""
    new = load(OLD)
    new["trialCountries"] = new["trialCountries"].replace(
        "GR: Ongoing, recruiting", "GR: Temporarily halted"
    )
    assert summaries(diff_records(load(OLD), new)) == [
        ("major", "country_status", "Greece: Ongoing, recruiting → Temporarily halted"),
    ]


def test_early_termination_halt_and_results_are_major() -> None:
    """An early termination notice, a temporary halt and summary results posted."""
    new = load(NEW)
    poland = next(e for e in new["events"]["trialEvents"] if e["mscName"] == "Poland")
    poland["events"].append({"notificationType": "EARLY_TERMINATION", "date": "2026-03-01"})
    new["events"]["temporaryHaltList"] = [
        {"haltDate": "2026-02-02", "plannedRestartDate": "2026-06-01"}
    ]
    new["results"] = {"summaryResults": {"id": 1, "submissionDate": "2026-03-05"}}
    assert summaries(diff_records(load(NEW), new)) == [
        ("major", "end_of_trial", "Poland: trial ended early (1 March 2026)"),
        (
            "major",
            "temporary_halt",
            "Temporarily halted from 2 February 2026 (restart planned 1 June 2026)",
        ),
        ("major", "results_posted", "Results posted: summary results"),
    ]


def test_dates_enrollment_criteria_and_contacts() -> None:
    """The expected end, Poland's planned participants, an exclusion line and a sponsor phone."""
    new = load(NEW)
    trial_information(new)["trialDuration"]["estimatedEndDate"] = "2026-03-31"
    part_ii(new, "Poland")["recruitmentSubjectCount"] = 5
    exclusions = trial_information(new)["eligibilityCriteria"]["principalExclusionCriteria"]
    first = min(exclusions, key=lambda item: item["number"])
    first["principalExclusionCriteria"] = "Has received POS within 60 days before Day 1"
    sponsor = new["authorizedApplication"]["authorizedPartI"]["sponsors"][0]
    for contact in (*sponsor["publicContacts"], *sponsor["scientificContacts"]):
        contact["telephone"] = "+44 20 7946 0000"
    assert summaries(diff_records(load(NEW), new)) == [
        (
            "major",
            "eligibility_criteria",
            "New exclusion: Has received POS within 60 days before Day 1; and 1 more",
        ),
        ("minor", "completion_date", "Expected end in the EU: September 2025 → March 2026"),
        ("minor", "enrollment", "Participants planned in Poland: 3 → 5"),
        ("minor", "contact_changed", "Contact Stephen Holden: new phone +44 20 7946 0000"),
    ]


def test_a_site_corrected_in_place_and_a_translation_edit_are_said() -> None:
    """A site's name edited under its businessKey is a correction; a translation is noise."""
    new = load(NEW)
    site = part_ii(new, "Belgium")["trialSites"][0]
    site["organisationAddressInfo"]["organisation"]["name"] += " Hospital"
    title = new["authorizedApplication"]["authorizedPartI"]["trialDetails"]
    title["clinicalTrialIdentifiers"]["publicTitleTranslations"][0]["attributeTranslation"] = "x"
    assert summaries(diff_records(load(NEW), new)) == [
        ("minor", "site_updated", "Site details corrected: Gent, Belgium (name)"),
        ("noise", "other", "Trial details updated"),
    ]


# --- every summary is its message's words -------------------------------------------------

_STATUS = st.integers(min_value=1, max_value=12)


def _set_status(code: int) -> Callable[[Record], None]:
    def apply(record: Record) -> None:
        record["ctPublicStatusCode"] = record["ctStatus"] = code

    return apply


def _set_country(country: str, code: int) -> Callable[[Record], None]:
    def apply(record: Record) -> None:
        state(record, country)["mscPublicStatusCode"] = code
        record["trialCountries"] = [
            f"{name}:{code}" if name == country else entry
            for entry in record["trialCountries"]
            for name in [entry.split(":")[0]]
        ]

    return apply


def _drop_site(country: str) -> Callable[[Record], None]:
    def apply(record: Record) -> None:
        sites = part_ii(record, country)["trialSites"]
        if sites:
            sites.pop()

    return apply


def _italy(code: int) -> Callable[[Record], None]:
    def apply(record: Record) -> None:
        _with_italy(record, code)

    return apply


def _set_text(path: tuple[str, ...], text: str) -> Callable[[Record], None]:
    def apply(record: Record) -> None:
        target: Any = record
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = text

    return apply


_PART_I = ("authorizedApplication", "authorizedPartI", "trialDetails")
_EDITS = st.one_of(
    st.builds(_set_status, _STATUS),
    st.builds(_set_country, st.sampled_from(["Belgium", "Greece", "Poland"]), _STATUS),
    st.builds(_drop_site, st.sampled_from(["Belgium", "Greece"])),
    st.builds(_italy, _STATUS),
    st.builds(
        _set_text,
        st.sampled_from(
            [
                (*_PART_I, "clinicalTrialIdentifiers", "publicTitle"),
                (*_PART_I, "clinicalTrialIdentifiers", "fullTitle"),
                (*_PART_I, "trialInformation", "trialDuration", "estimatedEndDate"),
                (*_PART_I, "trialInformation", "trialDuration", "estimatedRecruitmentStartDate"),
                ("startDateEU",),
                ("lastUpdated",),
            ]
        ),
        st.one_of(st.dates().map(str), st.text(max_size=40)),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(_EDITS, max_size=4), backwards=st.booleans())
def test_every_summary_is_the_english_of_its_message(
    edits: list[Callable[[Record], None]], backwards: bool
) -> None:
    """Random edits of the 2026 record, either way: each change's summary is describe(message,
    params) with its params surviving JSON, its kind in KINDS; no change means no difference."""
    edited = load(NEW)
    for edit in edits:
        edit(edited)
    old, new = (edited, load(NEW)) if backwards else (load(NEW), edited)
    changes = diff_records(old, new)
    for change in changes:
        assert change.message in CATALOGUE
        assert change.kind in KINDS
        params = orjson.loads(orjson.dumps(change.params))
        assert change.summary == describe(change.message, params), change
    if old == new:
        assert changes == []


# --- each change in its words ------------------------------------------------------------


def _sites(record: Record, country: str) -> list[Record]:
    sites: list[Record] = part_ii(record, country)["trialSites"]
    return sites


def _edit_site(country: str, **person: str) -> Callable[[Record], None]:
    def apply(record: Record) -> None:
        _sites(record, country)[0]["personInfo"].update(person)

    return apply


def _four_new_sites(record: Record) -> None:
    for number in range(4):
        site = copy.deepcopy(_sites(record, "Belgium")[0])
        where = site["organisationAddressInfo"]
        where["organisation"]["businessKey"] = f"ORG-90000000{number}"
        where["organisation"]["name"] = f"Hospital {number}"
        where["address"]["city"] = "Brussels" if number else "Liège"
        _sites(record, "Belgium").append(site)


def _postcode(record: Record) -> None:
    _sites(record, "Belgium")[0]["organisationAddressInfo"]["address"]["postcode"] = "9999"


def _department(record: Record) -> None:
    _sites(record, "Belgium")[0]["departmentName"] = "Paediatrics"


def _drop_notice(record: Record) -> None:
    belgium = next(e for e in record["events"]["trialEvents"] if e["mscName"] == "Belgium")
    belgium["events"] = [e for e in belgium["events"] if e["notificationType"] != "START_OF_TRIAL"]


def _sponsor(record: Record) -> Record:
    sponsor: Record = record["authorizedApplication"]["authorizedPartI"]["sponsors"][0]
    return sponsor


def _new_contact(record: Record) -> None:
    contact = copy.deepcopy(_sponsor(record)["publicContacts"][0])
    contact.update(functionalName="Jane Doe", functionalEmailAddress="jane@msd.com")
    _sponsor(record)["publicContacts"].append(contact)


def _no_contacts(record: Record) -> None:
    _sponsor(record)["publicContacts"] = _sponsor(record)["scientificContacts"] = []


def _renamed_contact(record: Record) -> None:
    for key in ("publicContacts", "scientificContacts"):
        _sponsor(record)[key][0]["functionalName"] = "S. Holden"


def _identifiers(record: Record) -> Record:
    ids: Record = record["authorizedApplication"]["authorizedPartI"]["trialDetails"][
        "clinicalTrialIdentifiers"
    ]
    return ids


def _conditions(record: Record) -> None:
    conditions = record["authorizedApplication"]["authorizedPartI"]["medicalConditions"]
    conditions.append({"medicalCondition": "Candidiasis", "isConditionRareDisease": False})


def _criteria(record: Record, key: str) -> list[Record]:
    found: list[Record] = trial_information(record)["eligibilityCriteria"][key]
    return found


def _reformatted(record: Record) -> None:
    for item in _criteria(record, "principalInclusionCriteria"):
        item["principalInclusionCriteria"] = "- " + item["principalInclusionCriteria"].upper()


def _no_criteria(record: Record) -> None:
    for key in ("principalInclusionCriteria", "principalExclusionCriteria"):
        for item in _criteria(record, key):
            item[key] = ""


def _japan(record: Record) -> None:
    countries = record["authorizedApplication"]["authorizedPartI"]["rowCountriesInfo"]
    countries.append({**countries[0], "name": "Japan", "isoAlpha2Code": "JP"})


CASES: list[tuple[Callable[[Record], None], list[tuple[str, str, str]]]] = [
    (
        _edit_site("Belgium", telephone="+32 9 000 00 00"),
        [
            (
                "minor",
                "site_updated",
                "Site in Gent, Belgium: contact Catharina Dhooge: new phone +32 9 000 00 00",
            )
        ],
    ),
    (
        _edit_site("Belgium", email=""),
        [
            (
                "minor",
                "site_updated",
                "Site in Gent, Belgium: contact Catharina Dhooge: email removed",
            )
        ],
    ),
    (_postcode, [("noise", "site_updated", "Site details corrected: Gent, Belgium (zip code)")]),
    (_department, [("minor", "site_updated", "Site details updated: Gent, Belgium")]),
    (
        _four_new_sites,
        [("major", "sites_added", "4 new sites: 4 in Belgium (Brussels, Liège)")],
    ),
    (
        _drop_notice,
        [("minor", "trial_event", "Belgium: notice withdrawn (trial started, 14 October 2021)")],
    ),
    (_new_contact, [("minor", "contact_added", "New contact: Jane Doe")]),
    (_no_contacts, [("minor", "contact_removed", "Contact removed: Stephen Holden")]),
    (
        _renamed_contact,
        [("minor", "contact_changed", "Contact Stephen Holden: new name S. Holden")],
    ),
    (
        lambda r: _identifiers(r).update(publicTitle="Posaconazole in infants"),
        [("minor", "brief_title", 'Title changed: "Posaconazole in infants"')],
    ),
    (
        lambda r: _identifiers(r).update(fullTitle=""),
        [("minor", "official_title", "Official title removed")],
    ),
    (
        _conditions,  # the new condition's rare-disease flag is a Part I detail (noise)
        [
            ("minor", "conditions", "Conditions: added Candidiasis"),
            ("noise", "other", "Trial details updated"),
        ],
    ),
    (_reformatted, [("noise", "eligibility_criteria", "Eligibility criteria reformatted")]),
    (_no_criteria, [("major", "eligibility_criteria", "Eligibility criteria removed")]),
    (_japan, [("major", "country_added", "Now also in Japan")]),
    (
        lambda r: r.update(startDateEU="29/04/2021"),
        [("minor", "start_date", "Start in the EU: 28 April 2021 → 29 April 2021")],
    ),
    (
        lambda r: r["authorizedApplication"]["authorizedPartI"].update(rowSubjectCount=25),
        [("minor", "enrollment", "Participants planned outside the EEA: 19 → 25")],
    ),
    (
        lambda r: r.update(correctiveMeasures=[{"measureType": "x"}]),
        [("noise", "other", "Corrective measures updated")],
    ),
]


def test_each_change_in_its_words() -> None:
    """One constructed edit of the 2026 record at a time, and exactly what it says."""
    for edit, expected in CASES:
        new = load(NEW)
        edit(new)
        assert summaries(diff_records(load(NEW), new)) == expected, expected


def test_halts_and_results_updated_or_gone() -> None:
    """A halt's restart re-planned, then gone; results withdrawn (minor)."""
    halted, replanned, posted = load(NEW), load(NEW), load(NEW)
    halted["events"]["temporaryHaltList"] = [{"haltDate": "2026-02-02"}]
    replanned["events"]["temporaryHaltList"] = [
        {"haltDate": "2026-02-02", "plannedRestartDate": "2026-06-01"}
    ]
    posted["results"] = {"laypersonResults": [{"submissionDate": "2026-03-05"}]}
    assert summaries(diff_records(halted, replanned)) == [
        (
            "minor",
            "temporary_halt",
            "Temporary halt of 2 February 2026 updated (restart planned 1 June 2026)",
        )
    ]
    assert summaries(diff_records(halted, load(NEW))) == [
        ("minor", "temporary_halt", "Temporary halt of 2 February 2026 no longer listed")
    ]
    assert summaries(diff_records(posted, load(NEW))) == [
        ("minor", "results_removed", "Results no longer posted: lay summary")
    ]


def test_the_status_read_from_any_api_s_field() -> None:
    """``ctPublicStatusCode``, else a numeric ``ctStatus``, else ``ctPublicStatus`` text; a status
    on one side only is said, minor."""
    old = {"ctNumber": "x", "ctStatus": "Authorised", "ctPublicStatus": "Ongoing, recruiting"}
    assert diff_records(old, {"ctNumber": "x", "ctStatus": 4}) == []
    new = {"ctNumber": "x", "ctStatus": 8}
    assert summaries(diff_records(old, new)) == [
        ("major", "overall_status", "Status: Ongoing, recruiting → Ended")
    ]
    assert summaries(diff_records({"ctNumber": "x"}, new)) == [
        ("minor", "overall_status", "Status: Ended")
    ]


def test_greece_written_el_is_greece() -> None:
    """The EU's code for Greece in the search text is the country of the part II."""
    old = load(OLD)
    new = load(OLD)
    new["trialCountries"] = new["trialCountries"].replace("GR:", "EL:")
    assert diff_records(old, new) == []
