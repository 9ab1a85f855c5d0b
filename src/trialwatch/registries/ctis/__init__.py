"""EU CTIS (euclinicaltrials.eu): its client (the only httpx user for it), parse, summary
and differ. Not yet behind the sync: see :mod:`trialwatch.registries.base`."""
