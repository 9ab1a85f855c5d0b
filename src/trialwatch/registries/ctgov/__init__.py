"""ClinicalTrials.gov API v2: the client (the only httpx user), queries and record parsing."""

from trialwatch.registries.ctgov.summary import study_url

DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"

__all__ = ["DEFAULT_API_URL", "study_url"]
