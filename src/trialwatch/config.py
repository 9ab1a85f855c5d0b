"""Settings: ``config/trialwatch.toml`` overridden by ``TRIALWATCH_*`` environment variables.

Read once at start-up by :func:`load_settings`; a bad value raises
:class:`~trialwatch.errors.ConfigError` naming the setting and where it came from.
Secrets can be given as files: ``TRIALWATCH_SECRET_KEY_FILE=/run/secrets/key``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from trialwatch.errors import ConfigError
from trialwatch.timeparse import parse_duration

DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
"""ClinicalTrials.gov's API, which ``api_url`` names unless set (config imports no adapter)."""

DEFAULT_CTIS_URL = "https://euclinicaltrials.eu/ctis-public-api"
"""EU CTIS's public API, which ``ctis_url`` names unless set (the CTIS client's own default)."""

MIN_SECRET_BYTES = 32  # the shortest TRIALWATCH_SECRET_KEY accepted

DEFAULT_CONFIG_PATH = Path("config/trialwatch.toml")
ENV_PREFIX = "TRIALWATCH_"
_SECRET_SETTINGS = ("secret_key", "smtp_url", "database_url", "admin_password_hash")


class Settings(BaseSettings):
    """Every setting of TrialWatch, typed and validated."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    database_url: str = "sqlite:///trialwatch.db"
    api_url: str = DEFAULT_API_URL
    watchlists_dir: Path = Path("config/watchlists")
    # The API's largest page: requests are the scarce resource. Pages are parsed one
    # record at a time, so 1000 full records (~40 MB) stay under 200 MB (bench/sync.py).
    page_size: int = Field(default=1000, ge=1, le=1000)
    requests_per_minute: float = Field(default=40.0, ge=0)
    http_timeout: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=20)
    overlap_days: int = Field(default=1, ge=0, le=30)
    # EU CTIS: no published rate limit, but a firewall (403) and 429s under load: one
    # request at a time, 120 a minute (0.5 s apart, as its known users do); 0: unpaced.
    ctis_url: str = DEFAULT_CTIS_URL
    ctis_requests_per_minute: float = Field(default=120.0, ge=0)
    # None: WARNING for one-off commands (their output is the report), INFO for `run`.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    log_format: Literal["auto", "text", "json"] = "auto"
    # Email (digests)
    # "auto": smtp when smtp_url is set, else file:outbox.
    mail: str = "auto"
    smtp_url: str = ""
    mail_from: str = "TrialWatch <trialwatch@localhost>"
    public_url: str = "http://localhost:8000"
    # Keep public page, feed and API responses until the stored data moves (web/cache.py).
    web_cache: bool = True
    secret_key: str = ""
    # Generated state (the secret key when none is set); see default_state_dir().
    state_dir: Path = Field(default=None, validate_default=True)
    templates: Path | None = None
    digest_max_studies: int = Field(default=25, ge=1, le=500)
    send_max_attempts: int = Field(default=8, ge=1, le=50)
    # Unattended operation (`trialwatch run`)
    # How often /version is asked whether the registry published new data.
    poll_every: timedelta = timedelta(minutes=10)
    # The leader's lease: renewed every third of it; a standby takes over after it.
    lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    # Health alerts go to these addresses (comma-separated); empty: no alerts.
    admin_emails: str = ""
    # A watchlist with no successful sync for this long is alerted on.
    stale_after: timedelta = timedelta(hours=48)
    # Sent outbox rows older than this are deleted by the scheduler, once a day.
    outbox_retention: timedelta = timedelta(days=90)
    # Web admin: an argon2 hash (`trialwatch admin hash-password`); empty: no admin login.
    admin_password_hash: str = ""
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses or
    # networks, e.g. 127.0.0.1,10.0.0.0/8); empty: the connecting address is the client.
    trusted_proxies: str = ""
    config_file: Path | None = None

    @field_validator("api_url", "ctis_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        size = len(value.encode("utf-8"))
        if value.strip() and size < MIN_SECRET_BYTES:
            raise ValueError(
                f"the secret key is {size} bytes, it must be at least {MIN_SECRET_BYTES} bytes;"
                " make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @field_validator("state_dir", mode="before")
    @classmethod
    def _default_state_dir(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "":
            return default_state_dir(str(info.data.get("database_url", "")))
        return value

    @field_validator("poll_every", "stale_after", "outbox_retention", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            try:
                return parse_duration(value, f"{ENV_PREFIX}{(info.field_name or '').upper()}")
            except ConfigError as exc:
                raise ValueError(str(exc).partition(": ")[2] or str(exc)) from exc
        return value

    @field_validator("poll_every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be a positive duration")
        return value

    @property
    def admin_addresses(self) -> tuple[str, ...]:
        """``admin_emails`` as a tuple of addresses (empty: no health alerts)."""
        return tuple(a.strip() for a in self.admin_emails.split(",") if a.strip())

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"'{item.strip()}' is not an IP address or network (e.g. 10.0.0.0/8)"
                    ) from None
        return value

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``trusted_proxies`` as networks (empty: no forwarded header is believed)."""
        return tuple(
            ipaddress.ip_network(item.strip(), strict=False)
            for item in self.trusted_proxies.split(",")
            if item.strip()
        )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values are gathered by load_settings() and passed as init arguments so that
        # the TOML file and the environment are read exactly once, from what we were given.
        return (init_settings,)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from the TOML file and the environment (environment wins)."""
    env = dict(os.environ if environ is None else environ)
    config_path, explicit = _config_path(env)
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if config_path is not None:
        for key, value in _read_toml(config_path, explicit).items():
            values[key] = value
            origin[key] = f"{config_path}: {key}"
        values["config_file"] = config_path
        # Relative paths in the file are relative to the file's folder.
        for key in ("watchlists_dir", "templates", "state_dir"):
            if isinstance(values.get(key), str) and not Path(values[key]).is_absolute():
                values[key] = str(config_path.parent / values[key])
        if "watchlists_dir" not in values:
            values["watchlists_dir"] = str(config_path.parent / "watchlists")
    for field_name in Settings.model_fields:
        if field_name == "config_file":
            continue
        env_name = ENV_PREFIX + field_name.upper()
        if field_name in _SECRET_SETTINGS and env.get(env_name + "_FILE"):
            secret_path = Path(env[env_name + "_FILE"])
            try:
                values[field_name] = secret_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"{env_name}_FILE: cannot read {secret_path}: {exc.strerror}"
                ) from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{env_name}_FILE: {not_utf8(secret_path, exc)}") from exc
            origin[field_name] = f"{env_name}_FILE"
        elif env_name in env:
            if env[env_name] == "" and Settings.model_fields[field_name].default is None:
                continue  # an empty optional setting means "not set"
            values[field_name] = env[env_name]
            origin[field_name] = env_name
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        where = origin.get(key, key)
        raise ConfigError(f"{where}: {error['msg'].removeprefix('Value error, ')}") from exc


def default_state_dir(database_url: str) -> Path:
    """Where generated state is kept when ``TRIALWATCH_STATE_DIR`` is not set.

    The folder of the database file for SQLite, so every command using one database
    uses one key whatever its working folder; otherwise the user's data folder,
    ``$XDG_DATA_HOME/trialwatch`` or ``~/.local/share/trialwatch``.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        url = None
    if url is not None and url.get_backend_name() == "sqlite":
        database = (url.database or "").removeprefix("file:")
        if database and database != ":memory:" and url.query.get("mode") != "memory":
            return Path(database).expanduser().absolute().parent
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if Path(data_home).is_absolute() else Path.home() / ".local" / "share"
    return base / "trialwatch"


def _config_path(env: Mapping[str, str]) -> tuple[Path | None, bool]:
    named = env.get(ENV_PREFIX + "CONFIG")
    if named:
        return Path(named), True
    return (DEFAULT_CONFIG_PATH, False) if DEFAULT_CONFIG_PATH.is_file() else (None, False)


def not_utf8(path: Path, exc: UnicodeDecodeError) -> ConfigError:
    """The error for a file that is not UTF-8 text: its name, the line, the byte."""
    data = exc.object if isinstance(exc.object, bytes) else b""
    line = data[: exc.start].count(b"\n") + 1
    byte = f" (byte 0x{data[exc.start]:02x})" if exc.start < len(data) else ""
    return ConfigError(f"{path}: line {line}: not UTF-8 text{byte}: save the file as UTF-8")


def _read_toml(path: Path, explicit: bool) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if explicit:
            raise ConfigError(f"{path}: config file not found (TRIALWATCH_CONFIG)") from exc
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(Settings.model_fields) - {"config_file"})
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown setting")
    return data
