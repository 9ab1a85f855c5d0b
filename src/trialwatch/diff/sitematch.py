"""Match the sites of two versions of a study: by key, then corrected sites by place.

Pass 1 matches sites by their key (facility, city, state, zip and country, see
:func:`~trialwatch.diff.keys.site_label`). Sites that share a key (a sponsor's
"Research Site" twice in one city, or sites without a facility name) are paired
by content, never by their position: an unchanged site pairs with its identical
copy first, so a new site in a city that already has one is an addition, not a
status change of the old one.

Pass 2 pairs what is left (sites removed and added in the same version) when one
is a correction of the other: the same country, the same city (looked at first)
or geo point (within :data:`NEAR_KM`), and facility names that are alike (both absent, or
every word of the shorter one found in the other, give or take a typo or an
abbreviation). The registry geocodes a site by its city, so a geo point alone
does not tell two hospitals of one city apart: the facility must agree too.
A pair is kept only when each site is the other's single best candidate
(:func:`~trialwatch.diff.pairing.pair_up`): when in doubt, an addition and a
removal, never a change reported on the wrong site.
"""

from __future__ import annotations

import math
import re
import unicodedata
from difflib import SequenceMatcher
from typing import Any

from trialwatch.diff.keys import site_label
from trialwatch.diff.lists import Item, Matched, match
from trialwatch.diff.pairing import Labelled, pair_up

NEAR_KM = 1.0
"""Two geo points closer than this are the same place."""

_WORD = re.compile(r"\w+")


def match_sites(old: Any, new: Any) -> Matched | None:
    """Match two ``locations`` lists; ``None`` when either is not a list of dicts."""
    matched = match(old, new, site_label)
    if not matched:
        return matched
    if any("#" in label for label, *_ in [*matched.added, *matched.removed, *matched.changed]):
        matched = _regroup(matched)
    for bucket in (_same_city, _same_country):  # the same city first, then a near point
        if not matched.added or not matched.removed:
            break
        pairs, matched.removed, matched.added = pair_up(
            matched.removed, matched.added, site_score, bucket
        )
        matched.changed += pairs
    return matched


def _same_city(site: Item) -> tuple[str, str]:
    return _norm(site.get("country")), _norm(site.get("city"))


def _same_country(site: Item) -> str:
    return _norm(site.get("country"))


def _regroup(matched: Matched) -> Matched:
    """Re-pair the leftovers of pass 1 within each shared key, by content not by number."""
    olds: dict[str, list[Labelled]] = {}
    news: dict[str, list[Labelled]] = {}
    for label, item in matched.removed:
        olds.setdefault(site_label(item).casefold(), []).append((label, item))
    for label, item in matched.added:
        news.setdefault(site_label(item).casefold(), []).append((label, item))
    for label, before, after in matched.changed:
        olds.setdefault(site_label(before).casefold(), []).append((label, before))
        news.setdefault(site_label(after).casefold(), []).append((label, after))
    out = Matched()
    for key in sorted(olds.keys() | news.keys()):
        removed, added = _drop_identical(olds.get(key, []), news.get(key, []))
        if len(removed) > 1 or len(added) > 1:
            pairs, removed, added = pair_up(removed, added, _same_but_status)
            out.changed += pairs
        if len(removed) == 1 and len(added) == 1:
            out.changed.append((added[0][0], removed[0][1], added[0][1]))
        else:
            out.removed += removed
            out.added += added
    return out


def _drop_identical(
    removed: list[Labelled], added: list[Labelled]
) -> tuple[list[Labelled], list[Labelled]]:
    """The entries left once each added site equal to a removed one is paired off with it."""
    left = list(removed)
    kept: list[Labelled] = []
    for label, item in added:
        twin = next((index for index, (_, old) in enumerate(left) if old == item), None)
        if twin is None:
            kept.append((label, item))
        else:
            del left[twin]
    return left, kept


def _same_but_status(old: Item, new: Item) -> float | None:
    keys = (old.keys() | new.keys()) - {"status"}
    return 1.0 if all(old.get(key) == new.get(key) for key in keys) else None


# --- pass 2: corrected sites -----------------------------------------------------------


def site_score(old: Item, new: Item) -> float | None:
    """How alike two sites' facility names are, if they are in the same place; else ``None``."""
    if _norm(old.get("country")) != _norm(new.get("country")):
        return None
    if _norm(old.get("city")) != _norm(new.get("city")) and not _near(old, new):
        return None
    return facility_score(_norm(old.get("facility")), _norm(new.get("facility")))


def facility_score(old: str, new: str) -> float | None:
    """``1.0`` for the same (or no) name, less for alike names, ``None`` otherwise.

    Alike: every word of the shorter name is a word of the other, or an
    abbreviation or a typo of one. The score is the share of the longer name's
    words found as they are, so the closer of two candidates wins.
    """
    if old == new:
        return 1.0
    small, large = sorted((old.split(), new.split()), key=len)
    words = set(large)
    if not small or not all(a in words or any(_same_word(a, b) for b in large) for a in small):
        return None
    return len(words.intersection(small)) / len(words)


def _same_word(a: str, b: str) -> bool:
    """An abbreviation ("univ" for "university"), or a typo of a longer word."""
    short, long = sorted((a, b), key=len)
    if len(short) >= 3 and long.startswith(short) and not short.isdigit():
        return True
    if len(short) < 4 or 2 * len(short) < 0.8 * (len(short) + len(long)):
        return False
    return SequenceMatcher(None, a, b).ratio() >= 0.8


def _norm(value: Any) -> str:
    """Words without case, accents or punctuation: ``"Marañón  Hosp."`` -> ``"maranon hosp"``."""
    if value is None:
        return ""
    text = str(value).casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(_WORD.findall(text))


def _point(site: Item) -> tuple[float, float] | None:
    point = site.get("geoPoint")
    if not isinstance(point, dict):
        return None
    lat, lon = point.get("lat"), point.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    return float(lat), float(lon)


def _near(old: Item, new: Item) -> bool:
    """Whether both sites have geo points within :data:`NEAR_KM` of each other."""
    a, b = _point(old), _point(new)
    if a is None or b is None:
        return False
    dy = (a[0] - b[0]) * 110.57
    dx = (a[1] - b[1]) * 111.32 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dx, dy) < NEAR_KM
