"""The English catalogue of changes: every message renders, and the differ says only those."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.diff.conftest import RECORDS, load_pair, load_record, module
from trialwatch.diff import Change
from trialwatch.registries.ctgov.differ import diff_records, left_watchlist, removed_from_registry
from trialwatch.registries.ctis.differ import diff_records as diff_ctis_records
from trialwatch.words.changes import CATALOGUE, MAX_SUMMARY, SUMMARY_ONLY, describe, stored

SRC = Path(__file__).resolve().parents[2] / "src" / "trialwatch"
AXSPA, AXSPA_VARIANT = "NCT02552212.json", "NCT02552212.variant-from-aact-NCT02278341-file.json"
DIFFER = [
    *sorted((SRC / "registries" / "ctgov" / "differ").glob("*.py")),
    SRC / "diff" / "lists.py",
]
CTIS_DIFFER = sorted((SRC / "registries" / "ctis" / "differ").glob("*.py"))
CTIS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ctis"
CTIS_PAIR = [
    CTIS_FIXTURES / f"ctrdata-demo_CTIS_2023-505613-24-00_imported-{day}.json"
    for day in ("2024-06-23", "2026-03-08")
]


@pytest.mark.parametrize("message", sorted(CATALOGUE))
def test_every_message_renders_its_example(message: str) -> None:
    """Non-empty words, every placeholder filled, within the summary's length when clipped."""
    say = CATALOGUE[message]
    text = describe(message, say.example, "en")
    assert text.strip(), message
    assert not re.search(r"[{}]|\bNone\b", text), text
    if say.clipped:
        assert len(text) <= MAX_SUMMARY


def test_an_unknown_locale_speaks_english_and_an_unknown_message_is_refused() -> None:
    """The locale falls back to the default; a message key must be in the catalogue."""
    params = {"from": "RECRUITING", "to": "COMPLETED"}
    assert describe("status_changed", params, "en-GB") == "Status: Recruiting → Completed"
    with pytest.raises(KeyError):
        describe("no_such_message", {})


def test_a_change_stored_before_messages_says_its_summary() -> None:
    """A NULL message is the summary, verbatim; a stored message keeps its params."""
    assert stored(None, None, "Results posted") == (SUMMARY_ONLY, {"text": "Results posted"})
    assert describe(SUMMARY_ONLY, {"text": "x" * 300}) == "x" * 300
    assert stored("results_posted", None, "Results posted") == ("results_posted", {})


def _constants(node: ast.AST | None) -> Iterator[str]:
    """The message keys an expression can be: a literal, either side of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _constants(node.body)
        yield from _constants(node.orelse)
    elif isinstance(node, ast.Tuple) and node.elts:  # (message, params) or (kind, (message, ...))
        last = node.elts[-1]
        yield from _constants(last.elts[0] if isinstance(last, ast.Tuple) else node.elts[0])


def _message_positions(tree: ast.Module) -> dict[str, int]:
    """Per function of the module (and ``said``), the position of its ``message`` parameter."""
    positions = {"said": 4}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names = [arg.arg for arg in node.args.args]
            if "message" in names:
                positions[node.name] = names.index("message")
    return positions


def emitted(path: Path) -> set[str]:
    """The message keys a differ module writes: arguments named ``message``, ``(message,
    params)`` results, names assigned to ``message``, and each ``ItemNouns`` noun's three."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    positions = _message_positions(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name == "ItemNouns":
                noun = next(_constants(node.args[0]))
                found |= {f"{noun}_added", f"{noun}_removed", f"{noun}_updated"}
            elif name in positions and len(node.args) > positions[name]:
                found.update(_constants(node.args[positions[name]]))
            for keyword in node.keywords:
                if keyword.arg == "message":
                    found.update(_constants(keyword.value))
        elif isinstance(node, ast.Return):
            found.update(
                _constants(node.value) if isinstance(node.value, ast.Tuple | ast.IfExp) else ()
            )
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == "message":
                    found.update(_constants(node.value))
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for sub, value in zip(target.elts, node.value.elts, strict=False):
                        if isinstance(sub, ast.Name) and sub.id == "message":
                            found.update(_constants(value))
    return found


def test_the_differs_say_exactly_the_messages_of_the_catalogue() -> None:
    """Each message key the CT.gov and CTIS differs write is in the catalogue, and each one it
    holds (but the stored summary) is written by one of them; CTIS's own keys by CTIS's."""
    ctgov = set().union(*map(emitted, DIFFER))
    ctis = set().union(*map(emitted, CTIS_DIFFER))
    assert (ctgov | ctis) - set(CATALOGUE) == set()
    assert set(CATALOGUE) - (ctgov | ctis) == {SUMMARY_ONLY}
    assert {key for key in CATALOGUE if key.startswith("ctis_")} <= ctis
    assert {key for key in ctgov if key.startswith("ctis_")} == set()


def _changes() -> Iterator[Change]:
    """The changes between every two recorded records (and each one new), the one recorded
    pair of versions (an AACT variant of NCT02552212), and membership changes."""
    records = [load_record(name) for name in RECORDS]
    for old in [None, *records]:
        for new in records:
            if old is not new:
                yield from diff_records(old, new)
    yield from diff_records(load_record(AXSPA), load_record(AXSPA_VARIANT))
    for record in records:
        yield left_watchlist(record, "MMN trials")
        yield removed_from_registry(record)
    old, new = load_pair("constructed/NCT05225675.json")
    module(new, "statusModule")["overallStatus"] = "UNKNOWN"
    module(new, "statusModule")["lastKnownStatus"] = "RECRUITING"
    yield from diff_records(old, new)


def test_a_ctis_summary_is_the_english_of_its_message_and_params() -> None:
    """The recorded CTIS pair, both ways and each version new: summary == describe(...)."""
    old, new = (orjson.loads(path.read_bytes()) for path in CTIS_PAIR)
    changes = [
        *diff_ctis_records(old, new),
        *diff_ctis_records(new, old),
        *diff_ctis_records(None, old),
        *diff_ctis_records(None, new),
    ]
    assert len(changes) > 10
    for change in changes:
        params = orjson.loads(orjson.dumps(change.params))
        assert change.summary == describe(change.message, params, "en"), change


def test_a_summary_is_the_english_of_its_message_and_params() -> None:
    """For the changes of the recorded fixtures, summary == describe(message, params, "en"),
    and the params are JSON that survives a round trip."""
    seen: set[str] = set()
    for change in _changes():
        assert change.message in CATALOGUE
        params = orjson.loads(orjson.dumps(change.params))
        assert change.summary == describe(change.message, params, "en"), change
        seen.add(change.message)
    assert len(seen) > 40, sorted(set(CATALOGUE) - seen)
