"""Turn the timestamps found in spreadsheets into the API's ``Y-m-d H:i:s`` in UTC.

Accepted without configuration: ``Y-m-d H:i:s``, ``Y-m-d H:i``, ``Y-m-d``, ISO 8601 with
``T``, fractions of a second, ``Z`` or an offset (``+05:30``, ``+0530``, ``+05``), and Excel
date cells (the reader renders them as ``Y-m-d H:i:s``). A mapping's ``date_format`` adds one
strptime form, tried first. Timestamps with an offset are converted to UTC; naive ones are
read in the configured zone. Local times that do not exist (DST gap) or are ambiguous (DST
overlap) are refused, and so are ``06/10/2019``-like forms unless ``date_format`` says which
number is the day.

Everything is vectorised: per-value Python runs only to word the error of a bad value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from schemas.activity import SENT_FORMAT

from .errors import MappingError

_ISO = (
    r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d{1,9})?)?)?"
    r"\s*(?P<offset>Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)
_DAY_OR_MONTH_FIRST = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\b"
#: a minute or second of 60 or 61: strptime and pandas take them and roll over to the next
#: minute (``23:59:60`` → the next day); no timestamp in a spreadsheet means that
_SIXTY = r"(?<=:)6[01](?!\d)"
#: the widest offset any zone uses (UTC+14:00; the lowest is UTC-12:00)
_MAX_OFFSET_MINUTES = 14 * 60
_UNIT = "datetime64[s]"  # whole seconds, as sent; covers years 1 to 9999


@dataclass(frozen=True)
class ParsedDates:
    """``utc``: naive UTC timestamps (seconds), NaT where invalid; ``problem``: why, else NA."""

    utc: pd.Series
    problem: pd.Series

    @property
    def sent(self) -> pd.Series:
        """The timestamps as the API wants them written (NA where invalid)."""
        return sent_text(self.utc)


def sent_text(utc: pd.Series) -> pd.Series:
    """UTC timestamps → ``Y-m-d H:i:s`` texts (None where missing)."""
    text = utc.dt.strftime(SENT_FORMAT).astype(object)
    return text.where(utc.notna(), None)


def parse_timestamps(
    values: pd.Series, zone: str = "UTC", date_format: str | None = None
) -> ParsedDates:
    """Parse a column of timestamp texts (None = missing) into naive UTC timestamps."""
    index = values.index
    sent = pd.Series(pd.NaT, index=index, dtype=_UNIT)  # naive UTC
    problem = pd.Series(pd.NA, index=index, dtype="object")
    present = values.notna()
    todo = values[present].astype(str)
    if date_format:
        aware, naive, rest = _by_format(todo, date_format)
        sixty = _sixty(todo)
        if sixty.any():
            bad = todo.index[sixty]
            aware, naive = aware.drop(bad, errors="ignore"), naive.drop(bad, errors="ignore")
            rest = pd.concat([rest[~rest.index.isin(bad)], todo[bad]])
        _store(sent, problem, aware, naive, zone)
        todo = rest
    if not todo.empty:
        # the common case first, at C speed: exactly the sent form (also Excel date cells)
        exact = pd.to_datetime(todo, format=SENT_FORMAT, errors="coerce")
        hit = exact.notna()
        hit &= ~_sixty(todo)
        if zone == "UTC" and len(todo) == len(values) and hit.all():
            return ParsedDates(_seconds(exact), problem)  # every value already as sent
        if hit.any():
            _store(sent, problem, exact.iloc[:0].dt.tz_localize("UTC"), exact[hit], zone)
            todo = todo[~hit]
    if not todo.empty:
        aware, naive, rest = _by_iso(todo)
        _store(sent, problem, aware, naive, zone)
        if not rest.empty:
            problem[rest.index] = [_why_unreadable(v, date_format) for v in rest]
    return ParsedDates(sent, problem)


def _sixty(values: pd.Series) -> pd.Series:
    """Values with a minute or second of 60 or 61 (a substring test first: C speed)."""
    if ":6" not in "".join(values.tolist()):
        return pd.Series(False, index=values.index)
    return values.str.contains(_SIXTY)


def _by_format(values: pd.Series, date_format: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Values matching the mapping's format: (tz-aware UTC, naive, the rest)."""
    with_offset = "%z" in date_format or "%Z" in date_format
    try:
        parsed = pd.to_datetime(values, format=date_format, errors="coerce", utc=with_offset)
    except ValueError as err:
        raise MappingError(
            f"date_format '{date_format}' cannot be used ({err}); "
            'write it with strptime codes, e.g. date_format = "%d.%m.%Y %H:%M"'
        ) from None
    ok = parsed.notna()
    rest = values[~ok]
    parsed = parsed[ok]
    if with_offset:
        return parsed, parsed.iloc[:0].dt.tz_localize(None), rest
    return parsed.iloc[:0].dt.tz_localize("UTC"), parsed, rest


def _by_iso(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Values in the ISO-like forms: (tz-aware UTC, naive, the rest)."""
    parts = values.str.strip().str.extract(_ISO)
    matched = parts["year"].notna()
    fields = parts[matched]
    numbers = {
        name: pd.to_numeric(fields[name], errors="coerce").fillna(0).astype("int64")
        for name in ("year", "month", "day", "hour", "minute", "second")
    }
    stamps = pd.to_datetime(pd.DataFrame(numbers), errors="coerce")
    in_range = (numbers["hour"] <= 23) & (numbers["minute"] <= 59) & (numbers["second"] <= 59)
    offsets = fields["offset"]
    has_offset = offsets.notna()
    minutes = _offset_minutes(offsets[has_offset])
    in_range[minutes.index] &= minutes.abs() <= _MAX_OFFSET_MINUTES
    real = stamps.notna() & in_range
    rest = values[~matched | ~real.reindex(values.index, fill_value=False)]
    stamps = stamps[real]
    has_offset = has_offset[real]
    minutes = minutes[minutes.index.isin(stamps.index)]
    aware = (stamps[has_offset] - pd.to_timedelta(minutes, unit="m")).dt.tz_localize("UTC")
    return aware, stamps[~has_offset], rest


def _offset_minutes(offsets: pd.Series) -> pd.Series:
    text = offsets.str.upper().replace({"Z": "+00:00", "UTC": "+00:00"}).str.replace(":", "")
    sign = text.str[0].map({"+": 1, "-": -1}).astype("int64")
    hours = pd.to_numeric(text.str[1:3]).astype("int64")
    mins = pd.to_numeric(text.str[3:5].replace("", "0")).astype("int64")
    # a minute part of 60 or more is no offset: make it too wide to pass
    return sign * (hours * 60 + mins + (mins > 59) * 10_000)


def _store(
    utc: pd.Series, problem: pd.Series, aware: pd.Series, naive: pd.Series, zone: str
) -> None:
    if not aware.empty:
        utc[aware.index] = _seconds(aware.dt.tz_convert("UTC").dt.tz_localize(None))
    if naive.empty:
        return
    if zone == "UTC":
        utc[naive.index] = _seconds(naive)
        return
    local = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    good = local.notna()
    utc[local[good].index] = _seconds(local[good].dt.tz_convert("UTC").dt.tz_localize(None))
    for row, stamp in naive[~good].items():
        problem[row] = _why_not_local(stamp.to_pydatetime(), zone)


def _seconds(stamps: pd.Series) -> pd.Series:
    return stamps.dt.floor("s").astype(_UNIT)


def _why_not_local(stamp: datetime, zone: str) -> str:
    tz = ZoneInfo(zone)
    shown = stamp.strftime("%Y-%m-%d %H:%M")
    first = stamp.replace(tzinfo=tz, fold=0)
    second = stamp.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        roundtrip = first.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)
        if roundtrip != stamp:
            return (
                f"{shown} does not exist in {zone} (clocks jump forward at that hour); "
                "give the time with an offset such as +01:00"
            )
        return (
            f"{shown} happens twice in {zone} (clocks go back at that hour); "
            "give the time with an offset such as +01:00"
        )
    return f"{shown} cannot be placed in {zone}"


def _why_unreadable(value: str, date_format: str | None) -> str:
    shown = value if len(value) <= 40 else value[:37] + "..."
    if date_format:
        return (
            f"'{shown}' does not match date_format '{date_format}' "
            "nor YYYY-MM-DD HH:MM:SS; fix the cell or the mapping's date_format"
        )
    if pd.Series([value]).str.match(_DAY_OR_MONTH_FIRST).iloc[0]:
        return (
            f"'{shown}' could be day-first or month-first; set date_format in a "
            'mapping file (e.g. date_format = "%d/%m/%Y %H:%M") or use YYYY-MM-DD'
        )
    if pd.Series([value]).str.strip().str.match(_ISO).iloc[0]:
        return (
            f"'{shown}' is no real date and time (a month, day, hour, minute, second or "
            "offset out of range); fix the cell"
        )
    return f"'{shown}' is not a date and time; use YYYY-MM-DD HH:MM:SS"


def check_zone(zone: str) -> bool:
    """Whether ``zone`` is an IANA time zone name this machine knows."""
    try:
        ZoneInfo(zone)
    except (KeyError, ValueError):
        return False
    # tz_localize needs pandas to agree as well (it uses the same database)
    try:
        pd.Timestamp("2000-01-01").tz_localize(zone)
    except Exception:
        return False
    return True


__all__ = ["SENT_FORMAT", "ParsedDates", "check_zone", "parse_timestamps", "sent_text"]
