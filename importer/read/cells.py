"""Cell text: a cell's value (openpyxl's or calamine's) as the text an analyst sees.

The bottom of the reading wing: Excel's error values, its column letters, and the one way
each kind of value becomes text, a cell at a time or a column at a time.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

#: Excel's error values: a cell showing one holds no data (its formula broke)
EXCEL_ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A")


def column_letter(position: int) -> str:
    """``0`` → ``A``, ``26`` → ``AA``: a column as Excel names it."""
    letters = ""
    number = position + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def calamine_text(value: object) -> str:
    """A calamine cell's value as text, as ``cell_text`` gives openpyxl's (calamine already
    decodes the ``_xHHHH_`` escapes, and gives a whole-day date cell as a date)."""
    kind = type(value)
    if kind is float:
        number: float = value  # type: ignore[assignment]
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return repr(number)
    if kind is dt.datetime:
        return value.isoformat(" ", "seconds")  # type: ignore[attr-defined]
    if kind is dt.date:
        return value.isoformat() + " 00:00:00"  # type: ignore[attr-defined]
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is dt.time:
        return value.isoformat("seconds")  # type: ignore[attr-defined]
    return str(value)  # str, int, timedelta


def texts_of(values: list[Any]) -> Any:
    """A column of calamine values as texts (a list or an array): a column all of one kind
    is converted in one pass; in a mixed one, the cells of each kind that is not text yet
    are converted together."""
    kinds = set(map(type, values))
    if kinds <= _JUST_TEXT:
        return values
    if len(kinds) == 1:
        return _texts_of_kind(kinds.pop(), values)
    types = np.fromiter(map(type, values), dtype=object, count=len(values))
    texts = np.empty(len(values), dtype=object)
    texts[:] = values
    for kind in kinds - _JUST_TEXT:
        rows = np.flatnonzero(types == kind)
        texts[rows] = _texts_of_kind(kind, texts[rows].tolist())
    return texts


_JUST_TEXT: set[type] = {str}


def one_object_per_text(texts: Any) -> Any:
    """``texts`` with every repeat of a text the same object as its first (as they are
    when anything is not a text: pandas would take None for NaN)."""
    codes, distinct = pd.factorize(np.asarray(texts, dtype=object))
    return texts if (codes < 0).any() else distinct.take(codes)


def _texts_of_kind(kind: type, values: list[Any]) -> list[str]:
    """Calamine values all of type ``kind`` as texts, as ``calamine_text`` gives each."""
    if kind is float:
        numbers = np.array(values, dtype=np.float64)
        whole = (np.floor(numbers) == numbers) & (np.abs(numbers) < 1e16)
        if whole.all():
            return list(map(str, numbers.astype(np.int64).tolist()))
        texts = np.array(list(map(repr, values)), dtype=object)
        texts[whole] = list(map(str, numbers[whole].astype(np.int64).tolist()))
        return texts.tolist()
    if kind is dt.datetime:
        return _datetime_texts(values)
    if kind is dt.date:
        return list(map("{} 00:00:00".format, values))
    return list(map(calamine_text, values))


def _datetime_texts(values: list[dt.datetime]) -> list[str]:
    """Naive datetimes as ``isoformat(" ", "seconds")`` gives them, twice as fast: numpy
    writes the texts, the fraction of a second dropped as isoformat drops it."""
    try:
        moments = pd.DatetimeIndex(values, dtype="datetime64[us]").to_numpy()
    except (TypeError, ValueError, OverflowError):  # not for numpy: one at a time
        return [value.isoformat(" ", "seconds") for value in values]
    texts = np.datetime_as_string(moments.astype("datetime64[s]"), unit="s")
    texts.view(np.uint32).reshape(len(texts), -1)[:, 10] = ord(" ")  # the T between
    return texts.tolist()


#: the escapes of text that XML cannot carry as it is (ECMA-376 ST_Xstring)
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescaped(found: re.Match[str]) -> str:
    return chr(int(found.group(1), 16))


def cell_text(value: object) -> str:
    """An Excel cell's value (as openpyxl reads it) as the text an analyst sees and the API
    receives."""
    if value is None:
        return ""
    if isinstance(value, str):
        # Excel stores a carriage return as _x000D_ and a literal "_x" as _x005F_x: decoded
        return _OOXML_ESCAPE.sub(_unescaped, value) if "_x" in value else value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "seconds")  # Y-m-d H:i:s, microseconds dropped
    if isinstance(value, dt.date):
        # an ISO date cell (t="d") without a time: a date cell like any other
        return value.isoformat() + " 00:00:00"
    if isinstance(value, dt.time):
        return value.isoformat("seconds")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)
