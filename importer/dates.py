"""Turn the timestamps found in spreadsheets into the API's ``Y-m-d H:i:s`` in UTC.

Accepted without configuration: ``Y-m-d H:i:s``, ``Y-m-d H:i``, ``Y-m-d``, ISO 8601 with
``T``, fractions of a second, ``Z`` or an offset (``+05:30``, ``+0530``, ``+05``), and Excel
date cells (the reader renders them as ``Y-m-d H:i:s``). A mapping's ``date_format`` adds
strptime forms, tried first, in order, for each value. Timestamps with an offset are
converted to UTC; naive ones are read in the configured zone. Local times that do not
exist (DST gap) or are ambiguous (DST overlap) are refused, and so are ``06/10/2019``-like
forms unless ``date_format`` says which number is the day; the refusal names the format
that reads the value when only one can.

Everything is vectorised: per-value Python runs only to word the error of a bad value.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
#: a day-first or month-first value, in parts: what its format must say
_NUMERIC_DATE = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
    r"(?:(?P<t>[ T]|,\s*)(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?P<second>:\d{2})?(?P<frac>[.,]\d{1,6})?"
    r"(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?))?)?"
    r"(?:\s*(?P<offset>Z|[+-]\d{2}:?\d{2}))?$"
)
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
    values: pd.Series, zone: str = "UTC", date_format: str | Sequence[str] | None = None
) -> ParsedDates:
    """Parse a column of timestamp texts (None = missing) into naive UTC timestamps."""
    index = values.index
    sent = pd.Series(pd.NaT, index=index, dtype=_UNIT)  # naive UTC
    problem = pd.Series(pd.NA, index=index, dtype="object")
    present = values.notna()
    todo = values[present].astype(str)
    formats = (date_format,) if isinstance(date_format, str) else tuple(date_format or ())
    # a time given with an offset, as the DST message asks, in the mapping's own format
    formats += tuple(f"{form} %z" for form in formats if "%z" not in form and "%H" in form)
    if formats:
        sixty = _sixty(todo)
        invalid = todo[sixty]
        todo = todo[~sixty]
        for one_format in formats:
            if todo.empty:
                break
            aware, naive, todo = _by_format(todo, one_format)
            _store(sent, problem, aware, naive, zone, formats)
        todo = pd.concat([todo, invalid]) if not invalid.empty else todo
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
            problem[rest.index] = _why_unreadable_all(rest, formats)
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
    utc: pd.Series,
    problem: pd.Series,
    aware: pd.Series,
    naive: pd.Series,
    zone: str,
    formats: tuple[str, ...] = (),
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
        problem[row] = _why_not_local(stamp.to_pydatetime(), zone, formats)


def _seconds(stamps: pd.Series) -> pd.Series:
    return stamps.dt.floor("s").astype(_UNIT)


def _why_not_local(stamp: datetime, zone: str, formats: tuple[str, ...] = ()) -> str:
    """Why a local time cannot be placed in ``zone``, and the fix written the way the file
    writes its times (``26/03/2023 02:29 +01:00``), which the run then reads."""
    tz = ZoneInfo(zone)
    shown = stamp.strftime("%Y-%m-%d %H:%M")
    first = stamp.replace(tzinfo=tz, fold=0)
    second = stamp.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return f"{shown} cannot be placed in {zone}"
    own = next((form for form in formats if "%z" not in form), "%Y-%m-%d %H:%M:%S")
    roundtrip = first.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)
    if roundtrip != stamp:
        offset = _offset_text(first.utcoffset())  # the clocks' offset before the jump
        return (
            f"{shown} does not exist in {zone} (clocks jump forward at that hour); "
            f"give the time with its offset, e.g. '{stamp.strftime(own)} {offset}'"
        )
    earlier, later = _offset_text(first.utcoffset()), _offset_text(second.utcoffset())
    return (
        f"{shown} happens twice in {zone} (clocks go back at that hour); give the time with "
        f"its offset: '{stamp.strftime(own)} {earlier}' (the first) or "
        f"'{stamp.strftime(own)} {later}' (the second)"
    )


def _offset_text(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_MONTH_NAMES = tuple(calendar.month_name)[1:]  # the C locale's: January, February, …


def impossible(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> str | None:
    """What is impossible in a date and time ("February has no 31st"), or None."""
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    if day < 1:
        return f"there is no day {day}"
    last = calendar.monthrange(year, month)[1]
    if day > last:
        name = _MONTH_NAMES[month - 1]
        if month == 2 and day == 29:
            return f"February {year} has no 29th: {year} is no leap year"
        return f"{name} has no {day}{_ordinal(day)}"
    if hour > 23:
        return f"hour {hour} does not exist (0 to 23)"
    if minute > 59:
        return f"minute {minute} does not exist (0 to 59)"
    if second > 59:
        return f"second {second} does not exist (0 to 59)"
    return None


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")


def _impossible_in(value: str, reading: Reading | None, formats: tuple[str, ...]) -> str | None:
    """What is impossible in a value written the way a format of the file reads, or None."""
    text = value.strip()
    iso = re.match(_ISO, text)
    found = _NUMERIC_DATE.match(text)
    if iso:
        parts = iso.groupdict()
        year, month, day = int(parts["year"]), int(parts["month"]), int(parts["day"])
    elif found and reading is not None:
        form = next((f for f in formats if f in (reading.day_first, reading.month_first)), None)
        if form is None and (formats or reading.order == "either"):
            return None  # another form, or either order: the other messages say what to do
        if form is None and reading.format is not None:
            return None  # readable one way: "is day-first: set date_format"
        day_first = form == reading.day_first
        a, b = int(found["a"]), int(found["b"])
        day, month = (a, b) if day_first else (b, a)
        year = int(found["year"]) + (2000 if len(found["year"]) == 2 else 0)
        parts = found.groupdict()
    else:
        return None
    clock = [int(parts[k].lstrip(":")) if parts.get(k) else 0 for k in ("hour", "minute", "second")]
    if found and parts.get("ampm") and clock[0] > 12:
        return f"hour {clock[0]} does not exist on a 12-hour clock (1 to 12)"
    return impossible(year, month, day, *clock)


def _why_unreadable_all(values: pd.Series, formats: tuple[str, ...]) -> list[str]:
    """Why each value could not be read; a column mixing readings names rows of each."""
    readings = {row: reading_of(value) for row, value in values.items()}
    proofs: dict[str, int] = {}
    for row, reading in readings.items():
        if reading is not None and reading.order != "either":
            proofs.setdefault(reading.order, int(str(row)))
    mixed = ""
    if len(proofs) == 2:
        day, month = proofs["day-first"], proofs["month-first"]
        mixed = (
            f"; the column mixes day-first (row {day}: '{values[day]}') and month-first "
            f"(row {month}: '{values[month]}') dates: make them one form in the file"
        )
    return [
        _why_unreadable(str(value), formats, readings[row]) + mixed for row, value in values.items()
    ]


def _why_unreadable(value: str, formats: tuple[str, ...], reading: Reading | None) -> str:
    shown = value if len(value) <= 40 else value[:37] + "..."
    wrong = _impossible_in(value, reading, formats)
    if wrong:
        return f"'{shown}' is no real date and time: {wrong}; fix the cell"
    if formats:
        named = " nor ".join(f"'{f}'" for f in formats)
        hint = (
            f'; it reads as date_format = "{reading.format}"' if reading and reading.format else ""
        )
        return (
            f"'{shown}' does not match date_format {named} "
            f"nor YYYY-MM-DD HH:MM:SS{hint}; fix the cell or the mapping's date_format"
        )
    if reading is not None:
        if reading.order == "either":
            return (
                f"'{shown}' could be day-first or month-first; set date_format in a mapping "
                f'file (date_format = "{reading.day_first}" or "{reading.month_first}") '
                "or use YYYY-MM-DD"
            )
        return (
            f"'{shown}' is {reading.order}: set date_format = \"{reading.format}\" in a "
            "mapping file (or use YYYY-MM-DD)"
        )
    if pd.Series([value]).str.strip().str.match(_ISO).iloc[0]:
        return (
            f"'{shown}' is no real date and time (a month, day, hour, minute, second or "
            "offset out of range); fix the cell"
        )
    return f"'{shown}' is not a date and time; use YYYY-MM-DD HH:MM:SS"


@dataclass(frozen=True)
class Reading:
    """How a day-first or month-first value can be read: its order and matching formats."""

    order: str  # "day-first", "month-first" or "either"
    day_first: str  # the strptime format reading it day-first
    month_first: str

    @property
    def format(self) -> str | None:
        """The one format that reads it, if only one order can."""
        if self.order == "day-first":
            return self.day_first
        if self.order == "month-first":
            return self.month_first
        return None


def reading_of(value: str) -> Reading | None:
    """``31/12/2024`` → day-first ``%d/%m/%Y``; None for values of another shape."""
    found = _NUMERIC_DATE.match(value.strip())
    if not found:
        return None
    a, b = int(found["a"]), int(found["b"])
    if not (1 <= a <= 31 and 1 <= b <= 31) or (a > 12 and b > 12):
        return None
    sep = found["sep"]
    rest = "%Y" if len(found["year"]) == 4 else "%y"
    if found["hour"] is not None:
        twelve = found["ampm"] is not None
        rest += (" " if found["t"] == " " else found["t"]) + ("%I" if twelve else "%H") + ":%M"
        if found["second"]:
            rest += ":%S"
        if found["frac"]:
            rest += found["frac"][0] + "%f"
        if twelve:
            between = value.strip()[found.end("minute") + len(found["second"] or "") :]
            rest += (" " if between[:1].isspace() else "") + "%p"
    if found["offset"]:
        rest += (" " if value.strip()[found.start("offset") - 1].isspace() else "") + "%z"
    order = "day-first" if a > 12 else "month-first" if b > 12 else "either"
    return Reading(order, f"%d{sep}%m{sep}{rest}", f"%m{sep}%d{sep}{rest}")


#: a date written with its month's name, in any of the orders exports use: ``22/Sep/25``
#: (Jira), ``15 Apr, 2021`` (Zoho), ``Sep 22, 2025``, ``2025-Sep-22``; then a time, maybe
#: with seconds, a fraction, AM/PM and an offset
_WORDY_DATE = re.compile(
    r"^(?:(?P<d1>\d{1,2})(?P<s1>[ /.\-]+)(?P<m1>[A-Za-z]{3,9})\.?(?P<s2>[ ,/.\-]+)"
    r"(?P<y1>\d{4}|\d{2})"
    r"|(?P<m2>[A-Za-z]{3,9})\.?(?P<s3>[ /.\-]+)(?P<d2>\d{1,2})(?P<s4>[ ,/.\-]+)(?P<y2>\d{4}|\d{2})"
    r"|(?P<y3>\d{4})(?P<s5>[ /.\-]+)(?P<m3>[A-Za-z]{3,9})\.?(?P<s6>[ /.\-]+)(?P<d3>\d{1,2}))"
    r"(?:(?P<t>[ T]+|,\s*)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?P<second>:\d{2})?"
    r"(?P<frac>[.,]\d{1,6})?(?P<ampm>\s*[AaPp][Mm])?)?"
    r"(?P<offset>\s*(?:Z|[+-]\d{2}:?\d{2}))?$"
)
_MONTHS = {m.lower() for m in calendar.month_abbr[1:] + calendar.month_name[1:]}
#: year-first dates with slashes, which the ISO-like forms do not read
_YEAR_FIRST_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")


def wordy_format(value: str) -> str | None:
    """The strptime format of a date written with its month's name (``22/Sep/25 9:26 AM``
    → ``%d/%b/%y %I:%M %p``), None for values of another shape."""
    found = _WORDY_DATE.match(value.strip())
    if not found:
        return None
    parts = found.groupdict()
    month = parts["m1"] or parts["m2"] or parts["m3"]
    if month.lower() not in _MONTHS:
        return None
    month_code = "%b" if len(month) == 3 else "%B"
    year = parts["y1"] or parts["y2"] or parts["y3"]
    year_code = "%Y" if len(year) == 4 else "%y"
    if parts["m1"]:
        form = f"%d{parts['s1']}{month_code}{parts['s2']}{year_code}"
    elif parts["m2"]:
        form = f"{month_code}{parts['s3']}%d{parts['s4']}{year_code}"
    else:
        form = f"%Y{parts['s5']}{month_code}{parts['s6']}%d"
    form = form.replace(f"{month_code}.", month_code)  # "Sep." reads as "Sep" + "."
    if parts["hour"] is not None:
        twelve = parts["ampm"] is not None
        form += parts["t"] + ("%I" if twelve else "%H") + ":%M"
        form += ":%S" if parts["second"] else ""
        form += parts["frac"][0] + "%f" if parts["frac"] else ""
        if twelve:
            form += (" " if parts["ampm"][0].isspace() else "") + "%p"
    if parts["offset"]:
        form += (" " if parts["offset"][0].isspace() else "") + "%z"
    return form


@dataclass(frozen=True)
class FormatGuess:
    """What a sample of timestamps says about the ``date_format`` that reads them."""

    formats: tuple[str, ...]  # () when the ISO-like forms read every value
    question: str | None  # why the sample cannot tell (both readings fit), else None
    unreadable: tuple[str, ...]  # sample values that no form found reads
    example: str | None  # a value that needed the formats


def guess_date_format(values: pd.Series) -> FormatGuess:
    """Infer the strptime forms of a column from sample values (None = missing).

    Day-first or month-first is decided by values above 12 in one place; dotted dates
    (``04.03.2024``) are day-first wherever they are written; a sample of only ambiguous
    values gives a question instead of a guess.
    """
    texts = values.dropna().astype(str).str.strip()
    texts = texts[texts != ""]
    parsed = parse_timestamps(texts)
    rest = texts[parsed.problem.notna()]
    if rest.empty:
        return FormatGuess((), None, (), None)
    readings = [(value, reading_of(value)) for value in rest]
    orders = {reading.order for _, reading in readings if reading}
    question = None
    formats: list[str] = []
    if {"day-first", "month-first"} <= orders:
        day = next(v for v, r in readings if r and r.order == "day-first")
        month = next(v for v, r in readings if r and r.order == "month-first")
        question = (
            f"the sample mixes day-first ('{day}') and month-first ('{month}') dates; "
            "make the column one form in the file, then run init again"
        )
    elif orders:
        either = [r for _, r in readings if r and r.order == "either"]
        day_first = "day-first" in orders or (
            "month-first" not in orders and all(r.day_first[2] == "." for r in either)
        )
        if orders == {"either"} and not day_first:
            sample = either[0]
            question = (
                f"every date in the sample (e.g. '{rest.iloc[0]}') could be day-first or "
                f'month-first: choose date_format = "{sample.day_first}" or '
                f'"{sample.month_first}"'
            )
        else:
            counted = Counter(r.day_first if day_first else r.month_first for _, r in readings if r)
            formats = [form for form, _ in counted.most_common()]
    left = rest
    if formats:
        left = rest[parse_timestamps(rest, date_format=formats).problem.notna()]
    wordy = Counter(form for value in left if (form := wordy_format(value)))
    for form in [form for form, _ in wordy.most_common()] + list(_YEAR_FIRST_FORMATS):
        if left.empty or question:
            break
        hit = parse_timestamps(left, date_format=(form,)).problem.isna().to_numpy()
        if hit.any():
            formats.append(form)
            left = left[~hit]
    unreadable = () if question else tuple(left.head(5))
    example = next((v for v in rest if v not in set(left)), None)
    return FormatGuess(tuple(formats), question, unreadable, example)


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


__all__ = [
    "SENT_FORMAT",
    "FormatGuess",
    "ParsedDates",
    "Reading",
    "check_zone",
    "guess_date_format",
    "parse_timestamps",
    "reading_of",
    "sent_text",
]
