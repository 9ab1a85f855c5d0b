"""ClinicalTrials.gov API v2: the client (the only httpx user), queries and record parsing."""

DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
