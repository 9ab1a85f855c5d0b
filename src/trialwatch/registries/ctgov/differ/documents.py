"""Results publications (``referencesModule``) and posted documents (``documentSection``).

A reference of type ``RESULT`` appearing is a publication of the study's results:
"Results publication: Smith J, et al. Efficacy of … (PMID 12345678)", minor. Other
references (background reading, and those the registry derives from PubMed) are
noise. A protocol, statistical analysis plan or informed consent form posted is
minor: "Document posted: Study protocol and statistical analysis plan".
"""

from __future__ import annotations

from typing import Any

from trialwatch.diff.keys import item_field, keyed
from trialwatch.diff.lists import Item, ItemNouns
from trialwatch.diff.model import Change, said
from trialwatch.registries.ctgov.differ.keys import reference_label
from trialwatch.words.terms import collapsed


def _publication(reference: Item) -> dict[str, Any]:
    return {
        "citation": collapsed(reference.get("citation")),
        "pmid": collapsed(reference.get("pmid")),
    }


def _is_result(item: Item | None) -> bool:
    return item is not None and item.get("type") == "RESULT"


def references_change(path: str, old: Any, new: Any) -> list[Change] | None:
    """Results publications added (minor) or removed (noise); ``None`` for other edits."""
    old_index = keyed(old, reference_label) if isinstance(old, list) else {}
    new_index = keyed(new, reference_label) if isinstance(new, list) else {}
    if old_index is None or new_index is None:
        return None
    changes = []
    for key in sorted(new_index.keys() | old_index.keys()):
        label, after = new_index.get(key, ("", None))
        before = old_index.get(key, ("", None))[1]
        if _is_result(after) == _is_result(before):
            continue
        field = item_field(path, label or old_index[key][0])
        if before is not None and not _is_result(after):
            message, params = "results_publication_removed", _publication(before)
            changes.append(
                said("results_publication", field, before, after, message, params, "noise")
            )
        else:
            message, params = "results_publication_added", _publication(after or {})
            changes.append(
                said("results_publication", field, before, after, message, params, "minor")
            )
    return changes or None


_DOCUMENT_PARTS = (("hasProtocol", "protocol"), ("hasSap", "sap"), ("hasIcf", "icf"))


def document_params(doc: Item) -> dict[str, Any]:
    """What names a document: the parts it holds (protocol, SAP, ICF) and its label."""
    parts = [part for key, part in _DOCUMENT_PARTS if doc.get(key) is True]
    return {"parts": parts, "label": doc.get("label")}


DOCUMENTS = ItemNouns("document", document_params)
"""Large documents (protocol, SAP, ICF), matched by file name."""
