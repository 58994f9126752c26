"""One frozen settings object, built from flags, the environment and the mapping file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
import tomllib
from collections.abc import Mapping as Mapping_
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .dates import check_zone
from .errors import UsageError
from .files import REPORT_STEM_MAX, fit_stem
from .mapping import Mapping
from .read import ReadOptions

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
    #: what reading may take of memory, where each Excel reader takes over
    read: ReadOptions = field(default_factory=ReadOptions)


def default_report(input_path: Path, now: dt.datetime | None = None) -> Path:
    """``reports/<input-stem>-<UTC timestamp>.csv`` (``.xlsx`` for a workbook input)."""
    now = now or dt.datetime.now(dt.UTC)
    suffix = ".xlsx" if input_path.suffix.lower() in (".xlsx", ".xlsm") else ".csv"
    stamp = f"-{now.strftime('%Y%m%dT%H%M%SZ')}"
    stem = fit_stem(input_path.stem, REPORT_STEM_MAX - len(stamp))  # its companions fit too
    return Path("reports") / f"{stem}{stamp}{suffix}"


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
    """https only, except plain http to this machine (the sandbox); no user or password in
    it (the credentials come from the environment); never echoed with what may be one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as err:
        raise UsageError(f"{what} '{_shown_url(url)}' is not a valid URL ({err})") from None
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{what} '{_shown_url(url)}' holds a user name or password: the API's credentials "
            "come from CG_CLIENT_ID and CG_CLIENT_SECRET; remove the 'user:password@' part"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} '{_shown_url(url)}' is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"{what} uses plain http to {parts.hostname}; only https is allowed "
            "(plain http only to this machine, e.g. the sandbox)"
        )
    return url


def _shown_url(url: str) -> str:
    """``url`` with everything up to its last ``@`` (a user and password) shown as ``…``."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, _ = head.partition("://")
    return f"{scheme}://…@{tail}" if sep else f"…@{tail}"


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
    for name, value in (("CG_CLIENT_ID", client_id), ("CG_CLIENT_SECRET", client_secret)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a byte that is no UTF-8 (os.environ keeps it escaped)
            raise UsageError(
                f"{name} is not valid UTF-8 text; set it again, as the API gave it"
            ) from None
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


#: the config file read when no --config is given (if it exists), under $XDG_CONFIG_HOME
CONFIG_NAME = Path("cg-import") / "config.toml"
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
}
#: where rows are sent: one decision, made whole by the command line or by the file, never
#: mixed (a file's token_url beside a command line's --api-url would get the secret)
ENDPOINT_OPTIONS = ("region", "api_url", "token_url", "sandbox")
_SECRET_WORDS = ("secret", "password", "token", "client_id", "credential")


def default_config(environ: Mapping_[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/cg-import/config.toml`` (``~/.config/cg-import/config.toml``)."""
    home = environ.get("XDG_CONFIG_HOME", "")
    if not home or not Path(home).is_absolute():  # the XDG rule: a relative one is ignored
        return Path("~/.config").expanduser() / CONFIG_NAME
    return Path(home) / CONFIG_NAME


def load_config(
    path: Path | None, environ: Mapping_[str, str] = os.environ
) -> tuple[Path | None, dict[str, Any]]:
    """The config file read and its option values: ``--config``, else the default file if
    it exists (never one found in the working folder: nobody asked for that one).

    Keys are option names (``max_wait`` or ``max-wait``); relative paths are read from the
    file's folder, so a scheduled job finds them from any working folder. Secrets are
    refused: they belong in the environment or the owner-only credentials file. So is a
    file that other users could have written (see ``_read_own``).
    """
    if path is None:
        path = default_config(environ)
        if not os.path.lexists(path):
            return None, {}
    text = _read_own(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
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
        if key == "only_changed":
            raise UsageError(
                f"config file {path} holds '{raw_key}': a run skips unchanged rows only when "
                "its command line says --only-changed (inbox always does); remove it"
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
    return path, values


def _read_own(path: Path) -> str:
    """The text of a config file only this user (or root) could have written.

    Refused: a file that is not a regular file (a FIFO would be waited on forever), one
    of another user, one that group or others may write, and one in a folder (or below a
    folder) where others could replace it: writable by them without the sticky bit, or
    theirs. A link is followed, and both its folders and its target's are checked.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise UsageError(
            f"cannot read the config file {path} ({err.strerror}); check --config"
        ) from None
    with open(fd, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise UsageError(f"config file {path} is not a regular file; check --config")
        problem = _others_could_write(path, found)
        if problem:
            raise UsageError(f"config file {path} {problem}")
        raw = handle.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None


def _others_could_write(path: Path, found: os.stat_result) -> str | None:
    """Why another user could have put this config file's content there (None: nobody)."""
    if not hasattr(os, "getuid"):  # Windows: folders' ACLs decide, not mode bits
        return None
    trusted = {os.getuid(), 0}
    if found.st_uid not in trusted:
        return (
            f"belongs to another user (uid {found.st_uid}), who could change what this run "
            "does; copy it to a file of your own"
        )
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"can be changed by other users; run: chmod 600 {path}"
    folders = [*path.resolve().parents, *path.absolute().parents]
    for folder in dict.fromkeys(folders):
        try:
            info = folder.stat()
        except OSError:
            continue
        if info.st_uid not in trusted:
            return (
                f"is in {folder}, which belongs to another user (uid {info.st_uid}) who could "
                "replace it; keep the config file in a folder of your own"
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            return f"is in {folder}, where other users could replace it; run: chmod go-w {folder}"
    return None


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
