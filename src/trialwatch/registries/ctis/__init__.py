"""EU CTIS (euclinicaltrials.eu): the client of its public API (the only httpx user for it)."""
