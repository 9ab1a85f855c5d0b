"""EU CTIS (euclinicaltrials.eu): the Clinical Trials Information System behind the seam."""
