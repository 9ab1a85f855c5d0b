"""EU CTIS (euclinicaltrials.eu): its client, parse, summary and differ."""
