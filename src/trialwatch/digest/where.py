"""Where a subscriber looks: a subscription's filters, and the sites that match them. Pure.

See :mod:`trialwatch.digest.assemble` for what passes: significance, kinds, then
countries (as ISO codes) and a "near me" place and radius (great-circle distance).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from trialwatch import places
from trialwatch.digest.model import ChangeItem, NearPlace, SitePlace, StudyInfo, SubscriptionPrefs
from trialwatch.vocab import SIGNIFICANCE_RANK
from trialwatch.words import digest as words
from trialwatch.words.digest import NO_SITES_YET

MATCHING_SITES_SHOWN = 6
"""At most this many matching sites are named; an "and N more" entry follows."""


def near_filter(
    label: str | None, lat: float | None, lon: float | None, within_km: float | None
) -> NearPlace | None:
    """A subscription's stored "near me" columns as the filter (None when not set)."""
    if label is None or lat is None or lon is None:
        return None
    return NearPlace(
        label=places.short_label(label),
        lat=lat,
        lon=lon,
        within_km=within_km if within_km is not None else places.DEFAULT_WITHIN_KM,
    )


@dataclass
class Filter:
    """One subscription's filters: cursor, significance, kinds, and where its sites are."""

    cursor: int
    min_rank: int
    kinds: frozenset[str]
    countries: frozenset[str]
    """Country keys (:func:`trialwatch.places.country_key`)."""
    near: NearPlace | None
    _studies: dict[str, bool] = field(default_factory=dict)
    """Per NCT ID: whether the study has a matching site (or none at all)."""
    _distances: dict[tuple[float, float], float] = field(default_factory=dict)
    """Per site geoPoint: its distance from the near place (computed once)."""

    @classmethod
    def of(cls, prefs: SubscriptionPrefs) -> Filter:
        return cls(
            cursor=prefs.cursor,
            min_rank=SIGNIFICANCE_RANK[prefs.minimum_significance],
            kinds=frozenset(prefs.event_kinds),
            countries=frozenset(places.country_key(c) for c in prefs.countries if c.strip()),
            near=prefs.near,
        )

    @property
    def located(self) -> bool:
        """Whether the filter looks at where the sites are."""
        return bool(self.countries) or self.near is not None

    def distance(self, site: SitePlace) -> float | None:
        """How far a site is from the near place (None: no filter or no geoPoint)."""
        if self.near is None or site.lat is None or site.lon is None:
            return None
        point = (site.lat, site.lon)
        if point not in self._distances:
            self._distances[point] = places.distance_km(
                self.near.lat, self.near.lon, site.lat, site.lon
            )
        return self._distances[point]

    def matches(self, site: SitePlace) -> bool:
        if self.countries and (
            site.country is None or places.country_key(site.country) not in self.countries
        ):
            return False
        if self.near is not None:
            distance = self.distance(site)
            return distance is not None and distance <= self.near.within_km
        return True

    def passes(self, change: ChangeItem, study: StudyInfo | None) -> bool:
        if change.change_id <= self.cursor:
            return False
        if SIGNIFICANCE_RANK[change.significance] < self.min_rank:  # noise (rank 0) never passes
            return False
        if self.kinds and change.kind not in self.kinds:
            return False
        if not self.located:
            return True
        if change.kind.startswith("site"):
            if change.sites:
                return any(self.matches(site) for site in change.sites)
            if change.countries and self.countries:
                if not any(places.country_key(c) in self.countries for c in change.countries):
                    return False
                if self.near is None:
                    return True
        return self._study_passes(study)

    def _study_passes(self, study: StudyInfo | None) -> bool:
        if study is None:
            return True
        if study.nct_id not in self._studies:
            self._studies[study.nct_id] = not study.sites or any(
                self.matches(site) for site in study.sites
            )
        return self._studies[study.nct_id]

    def where(self, change: ChangeItem, study: StudyInfo | None) -> str | None:
        """ "18 km from Leiden" for a site change or a new trial under a near filter."""
        if self.near is None:
            return None
        if change.kind.startswith("site"):
            sites: Iterable[SitePlace] = change.sites
        elif change.kind == "new_study" and study is not None:
            sites = study.sites
        else:
            return None
        distances = [
            d for site in sites if self.matches(site) and (d := self.distance(site)) is not None
        ]
        return words.from_place(min(distances), self.near.label) if distances else None

    @property
    def matching_label(self) -> str:
        """What :meth:`matching_sites` lists, as the entry introduces them."""
        if self.near is not None:
            return words.matching_label(self.near.within_km, self.near.label, False)
        return words.matching_label(None, None, bool(self.countries))

    def matching_sites(
        self, items: Sequence[ChangeItem], study: StudyInfo | None
    ) -> tuple[str, ...]:
        """The matching current sites as the entry names them, nearest first under near."""
        if not self.located:
            return ()
        if study is not None and not study.sites:
            return (NO_SITES_YET,)
        sites = study.sites if study is not None else [s for c in items for s in c.sites]
        named: dict[str, float] = {}
        for site in sites:
            if self.matches(site):
                label = site.city or site.facility or site.country or words.A_SITE
                distance = self.distance(site)
                key = distance if distance is not None else 0.0
                named[label] = min(key, named.get(label, key))
        order = list(named)
        if self.near is not None:
            order.sort(key=lambda label: named[label])
            shown = [words.site_at(label, named[label]) for label in order]
        else:
            shown = order
        if len(shown) > MATCHING_SITES_SHOWN:
            rest = len(shown) - MATCHING_SITES_SHOWN
            shown = [*shown[:MATCHING_SITES_SHOWN], words.more_sites(rest)]
        return tuple(shown)
