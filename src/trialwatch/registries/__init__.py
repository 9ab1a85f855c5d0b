"""The registries TrialWatch reads, each behind the same seam (:mod:`.base`).

``REGISTRIES`` maps a registry's name (as watchlists and stored studies spell it)
to how it is opened from the settings; :func:`get` looks one up.
"""

from __future__ import annotations

from trialwatch.errors import ConfigError
from trialwatch.registries.base import Registry, RegistryOpener
from trialwatch.registries.ctgov.registry import CtgovRegistry

__all__ = ["REGISTRIES", "Registry", "RegistryOpener", "get"]

REGISTRIES: dict[str, RegistryOpener] = {
    CtgovRegistry.name: CtgovRegistry.open,
}


def get(name: str) -> RegistryOpener:
    """How to open the registry called ``name``; ConfigError for a name TrialWatch does not know."""
    try:
        return REGISTRIES[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRIES))
        raise ConfigError(f"unknown registry {name!r} (known: {known})") from None
