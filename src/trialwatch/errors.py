"""Errors raised by TrialWatch.

Every error the package raises on purpose derives from :class:`TrialwatchError`;
library exceptions (httpx, SQLAlchemy, smtplib) are wrapped at the module that
uses the library and never leave it::

    TrialwatchError
    ├── ConfigError              bad settings or watchlist file       (exit 2)
    ├── NotFoundError            unknown watchlist slug, NCT ID, ...  (exit 2)
    ├── CtgovError               ClinicalTrials.gov API problems      (exit 1)
    │   ├── CtgovUnavailable     transient: connect error, timeout, 429, 5xx
    │   └── CtgovBadResponse     permanent: 4xx, malformed JSON
    ├── SyncInProgress           another sync holds the watchlist lock (exit 3)
    └── DeliveryError            mail could not be delivered          (exit 1)
"""

from __future__ import annotations


class TrialwatchError(Exception):
    """Base class of every error TrialWatch raises on purpose."""

    exit_code = 1


class ConfigError(TrialwatchError):
    """A setting, watchlist file or command-line value is invalid."""

    exit_code = 2


class NotFoundError(TrialwatchError):
    """Something named on the command line does not exist."""

    exit_code = 2


class CtgovError(TrialwatchError):
    """The ClinicalTrials.gov API could not give us what we asked for."""


class CtgovUnavailable(CtgovError):
    """A transient failure: the API was unreachable, slow, rate-limiting or failing."""


class CtgovBadResponse(CtgovError):
    """A permanent failure: the API rejected the request or answered nonsense."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class SyncInProgress(TrialwatchError):
    """Another process is already syncing this watchlist."""

    exit_code = 3


class DeliveryError(TrialwatchError):
    """An email could not be delivered.

    ``permanent`` is true when retrying cannot help (the server rejected the
    recipient with a 5xx reply).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
