"""Results publications (``referencesModule``) and posted documents (``documentSection``).

A reference of type ``RESULT`` appearing is a publication of the study's results:
"Results publication: Smith J, et al. Efficacy of … (PMID 12345678)", minor. Other
references (background reading, and those the registry derives from PubMed) are
noise. A protocol, statistical analysis plan or informed consent form posted is
minor: "Document posted: Study protocol and statistical analysis plan".
"""

from __future__ import annotations

from typing import Any

from trialwatch.diff.keys import item_field, keyed, reference_label
from trialwatch.diff.labels import MAX_SUMMARY, clip
from trialwatch.diff.lists import Item, ItemNouns
from trialwatch.diff.model import Change
from trialwatch.vocab import Significance


def citation_words(reference: Item, limit: int) -> str:
    """``"Smith J, et al. Efficacy of …"``: the first author and the title, in ``limit``."""
    citation = " ".join(str(reference.get("citation") or "").split())
    authors, dot, rest = citation.partition(". ")
    if not dot or not rest:
        return clip(citation or "untitled", limit)
    first, comma, _ = authors.partition(", ")
    head = f"{first}, et al. " if comma else f"{first}. "
    title = rest.partition(". ")[0].rstrip(".")
    return head + clip(title, max(limit - len(head), 10))


def _publication(reference: Item) -> str:
    pmid = " ".join(str(reference.get("pmid") or "").split())
    tail = f" (PMID {pmid})" if pmid else ""
    head = "Results publication: "
    return head + citation_words(reference, MAX_SUMMARY - len(head) - len(tail)) + tail


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
        significance: Significance = "minor"
        summary = _publication(after) if after is not None else ""
        if before is not None and not _is_result(after):
            significance = "noise"
            summary = _publication(before).replace("publication:", "publication removed:", 1)
        field = item_field(path, label or old_index[key][0])
        summary = clip(summary, MAX_SUMMARY)
        changes.append(Change("results_publication", field, before, after, summary, significance))
    return changes or None


_DOCUMENT_PARTS = (
    ("hasProtocol", "study protocol"),
    ("hasSap", "statistical analysis plan"),
    ("hasIcf", "informed consent form"),
)


def document_words(doc: Item) -> str:
    """``"Study protocol and statistical analysis plan"``, from the document's flags."""
    parts = [words for key, words in _DOCUMENT_PARTS if doc.get(key) is True]
    if not parts:
        return clip(" ".join(str(doc.get("label") or "document").split()), 80).capitalize()
    text = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return text[0].upper() + text[1:]


DOCUMENTS = ItemNouns(
    "document",
    document_words,
    added=lambda doc: f"Document posted: {document_words(doc)}",
    removed=lambda doc: f"Document removed: {document_words(doc)}",
)
"""Large documents (protocol, SAP, ICF), matched by file name."""
