"""One frozen settings object, built from flags, the environment and the mapping file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .dates import check_zone
from .errors import UsageError
from .mapping import Mapping

REGIONS = ("eu", "us", "au")
CREDENTIALS_FILE = Path("~/.config/cg-import/credentials.toml")


def region_urls(region: str) -> tuple[str, str]:
    """(activities URL, token URL) of a region, from the API's public documentation."""
    if region not in REGIONS:
        raise UsageError(f"unknown region '{region}'; use one of {', '.join(REGIONS)}")
    return (
        f"https://imports.api.{region}.customergauge.com/activities",
        f"https://auth.{region}.customergauge.com/oauth2/token",
    )


@dataclass(frozen=True)
class Settings:
    """Everything one run needs; secrets are kept out of its repr."""

    input: Path
    report: Path
    mapping: Mapping | None = None
    sheet: str | None = None
    timezone: str = "UTC"
    date_format: tuple[str, ...] = ()  # the mapping's strptime forms, tried in order
    delimiter: str | None = None
    encoding: str | None = None
    api_url: str = ""
    token_url: str = ""
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    rate: float = 10.0
    auto_rate: bool = False  # --rate auto: learn the API's budget from its headers
    concurrency: int = 8
    max_attempts: int = 5
    retry_wait: float = 0.5
    timeout: float = 60.0
    max_wait: float = 300.0  # the longest Retry-After obeyed
    stall: float = 600.0  # seconds without a row imported (rows waiting) that stop sending
    resume: bool = False
    sandbox: bool = False  # the in-process stand-in API (its URLs change every run)
    history: Path | None = None  # remembers imported payloads (see history.py)
    only_changed: bool = False  # send only rows the history does not hold as they are
    chunk_rows: int = 20_000
    retry_format: str = "xlsx"  # the retry file: a workbook for people, or csv for machines


def default_report(input_path: Path, now: dt.datetime | None = None) -> Path:
    """``reports/<input-stem>-<UTC timestamp>.csv`` (``.xlsx`` for a workbook input)."""
    now = now or dt.datetime.now(dt.UTC)
    suffix = ".xlsx" if input_path.suffix.lower() in (".xlsx", ".xlsm") else ".csv"
    return Path("reports") / f"{input_path.stem}-{now.strftime('%Y%m%dT%H%M%SZ')}{suffix}"


def check_report_path(report: Path) -> None:
    """Reports are .csv or .xlsx."""
    if report.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"--report must end in .csv or .xlsx, not '{report.name}'")


def resolve_timezone(flag: str | None, mapping: Mapping | None) -> str:
    """--timezone wins over the mapping's timezone; UTC by default."""
    zone = flag or (mapping.timezone if mapping else None) or "UTC"
    if not check_zone(zone):
        raise UsageError(
            f"unknown time zone '{zone}'; use an IANA name such as Europe/Berlin or UTC"
        )
    return zone


def check_url(url: str, what: str) -> str:
    """https only, except plain http to this machine (the sandbox)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} '{url}' is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"{what} uses plain http to {parts.hostname}; only https is allowed "
            "(plain http only to this machine, e.g. the sandbox)"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_credentials(environ: dict[str, str] | os._Environ[str] = os.environ) -> tuple[str, str]:
    """CG_CLIENT_ID / CG_CLIENT_SECRET, else an owner-only credentials file."""
    client_id = environ.get("CG_CLIENT_ID", "").strip()
    client_secret = environ.get("CG_CLIENT_SECRET", "").strip()
    if client_id and client_secret:
        return client_id, client_secret
    path = Path(environ.get("CG_CREDENTIALS_FILE", str(CREDENTIALS_FILE))).expanduser()
    if path.exists():
        if not path.is_file():  # a FIFO would be waited on forever
            raise UsageError(f"{path} is not a regular file; it must hold the credentials")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(f"{path} can be read by other users; run: chmod 600 {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            raise UsageError(
                f'{path} is not valid TOML; write client_id = "…" and client_secret = "…"'
            ) from None
        client_id = client_id or str(data.get("client_id", "")).strip()
        client_secret = client_secret or str(data.get("client_secret", "")).strip()
    if not client_id or not client_secret:
        raise UsageError(
            "no API credentials: set CG_CLIENT_ID and CG_CLIENT_SECRET "
            "(or try it first with --sandbox)"
        )
    return client_id, client_secret


CONFIG_FILE = Path("cg-import.toml")
#: config file key → (option it stands for, kind of value)
CONFIG_KEYS: dict[str, tuple[str, str]] = {
    "inbox": ("folder", "path"),
    "reports": ("reports", "path"),
    "history": ("history", "path"),
    "log_file": ("log_file", "path"),
    "mapping": ("mapping", "path"),
    "notify": ("notify", "texts"),
    "region": ("region", "text"),
    "api_url": ("api_url", "text"),
    "token_url": ("token_url", "text"),
    "sheet": ("sheet", "text"),
    "timezone": ("timezone", "text"),
    "rate": ("rate", "rate"),
    "concurrency": ("concurrency", "whole"),
    "max_attempts": ("max_attempts", "whole"),
    "retry_wait": ("retry_wait", "number"),
    "timeout": ("timeout", "number"),
    "max_wait": ("max_wait", "number"),
    "stall_limit": ("stall_limit", "number"),
    "settle": ("settle", "number"),
    "quiet": ("quiet", "flag"),
    "only_changed": ("only_changed", "flag"),
}
_SECRET_WORDS = ("secret", "password", "token", "client_id", "credential")


def load_config(path: Path | None) -> dict[str, Any]:
    """Option values from a config file (``--config``, else ``cg-import.toml`` if present).

    Keys are option names (``max_wait`` or ``max-wait``); relative paths are read from the
    file's folder, so a scheduled job finds them from any working folder. Secrets are
    refused: they belong in the environment or the owner-only credentials file.
    """
    if path is None:
        if not CONFIG_FILE.is_file():
            return {}
        path = CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"config file {path} not found (or not a regular file); check --config")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(
            f"config file {path} is not valid TOML ({err}); write values in quotes, "
            'e.g. region = "eu"'
        ) from None
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if any(word in key for word in _SECRET_WORDS) and key != "token_url":
            raise UsageError(
                f"config file {path} holds '{raw_key}': secrets do not belong in a config "
                "file; set CG_CLIENT_ID and CG_CLIENT_SECRET in the environment (or an "
                "owner-only credentials file) and remove it"
            )
        if key not in CONFIG_KEYS:
            raise UsageError(
                f"config file {path}: unknown setting '{raw_key}'; known are "
                f"{', '.join(sorted(CONFIG_KEYS))}"
            )
        option, kind = CONFIG_KEYS[key]
        values[option] = _config_value(path, raw_key, kind, value)
    if any(urlsplit(url).password for url in values.get("notify", [])) and path.stat().st_mode & (
        stat.S_IRWXG | stat.S_IRWXO
    ):
        raise UsageError(
            f"config file {path} has a password in a notify URL and can be read by other "
            f"users; run: chmod 600 {path}"
        )
    return values


def _config_value(path: Path, key: str, kind: str, value: object) -> object:
    wrong = UsageError(f"config file {path}: {key} must be {_KINDS[kind]}, not {value!r}")
    if kind == "flag":
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind == "rate" and value == "auto":
        return value
    if kind in ("number", "whole", "rate"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        if kind == "whole" and not float(value).is_integer():
            raise wrong
        return int(value) if kind == "whole" else float(value)
    if kind == "texts":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise wrong
        return list(items)
    if not isinstance(value, str) or not value.strip():
        raise wrong
    if kind == "path":
        found = Path(value).expanduser()
        return found if found.is_absolute() else path.parent / found
    return value


_KINDS = {
    "flag": "true or false",
    "number": "a number",
    "rate": 'a number or "auto"',
    "whole": "a whole number",
    "texts": 'a list of texts in quotes, e.g. ["json://host/path"]',
    "text": "text in quotes",
    "path": "a path in quotes",
}
