"""What the sampled cells of a column look like: emails, dates and times, unique IDs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..dates import guess_date_format, parse_timestamps, reading_of

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
#: what every date or time the readers take holds: two numbers apart (a day and a month,
#: hours and minutes) or six digits in a row (20240501); a column with none is no date,
#: told without trying each form on it (~20 ms of pandas a form, a column)
_DATE_SHAPE = r"\d\D+\d|\d{6}"
PHONE = r"^\+?[\d\s().\-/]{7,}$"


def column_values(sample: pd.DataFrame, position: int) -> pd.Series:
    """Sampled cells of one column, trimmed, None for blank."""
    if position not in sample.columns:
        return pd.Series(dtype=object)
    values = sample[position].astype(str).str.strip()
    return values.where(values != "", None)


def is_filled(sample: pd.DataFrame, position: int) -> bool:
    return bool(column_values(sample, position).notna().any())


def share_matching(values: pd.Series, pattern: str) -> float:
    present = values.dropna()
    if present.empty:
        return 0.0
    return float(present.str.match(pattern).mean())


def date_share(values: pd.Series) -> float:
    present = values.dropna()
    if present.empty or share_matching(present, r"^\d+$") > 0.5:
        return 0.0  # plain numbers are no dates (years alone, counts)
    if not present.str.contains(_DATE_SHAPE).any():
        return 0.0
    read = parse_timestamps(present).problem.isna().to_numpy(copy=True)
    if not read.all():
        read |= np.array([reading_of(value) is not None for value in present])
    if not read.all():
        guess = guess_date_format(present[~read])
        if guess.formats:
            left = parse_timestamps(present, date_format=guess.formats).problem.isna()
            read |= left.to_numpy()
    return float(read.mean())


def looks_like_ids(values: pd.Series) -> bool:
    """Filled in every sampled row, unique, one word of at most 128 characters."""
    if len(values) < 2 or values.isna().any():
        return False
    return bool(
        values.is_unique
        and values.str.len().max() <= 128
        and not values.str.contains(r"\s").any()
        and date_share(values) < 0.5
        and share_matching(values, EMAIL) < 0.5
    )
