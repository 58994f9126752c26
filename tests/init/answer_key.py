"""The answer key of the real exports in tests/data/real/ (expected.toml, written by hand
from reading each file; sources in SOURCES.md) and how init's choices are judged against
it: by tests/init/test_real_exports.py and by benchmarks/real_exports.py, which prints the table."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (REAL / "expected.toml").read_text(encoding="utf-8")
)["files"]
#: names of one kind of activity: a Salesforce, Zoho or Dynamics case is a support ticket
SAME_KIND = {"Case": "Support Ticket"}
#: where the data themselves keep rows from being valid, the share of rows that can be, and why
DATA_ALLOW = {
    "zoho-calls.csv": (0.5, "175 of 400 rows have no account, contact or lead at all"),
    "salesforce-event.csv": (0.65, "8 of 24 events have neither AccountId nor WhoId"),
}


def kind(name: str) -> str:
    return SAME_KIND.get(name, name)


def first(value: str | list[str]) -> str:
    return value if isinstance(value, str) else value[0]


def choices(result: Any, mapping: dict[str, Any], expected: dict[str, Any]) -> dict[str, bool]:
    """Each choice init made, right or wrong against the answer key."""
    columns, constants = mapping.get("columns", {}), mapping.get("constants", {})
    forms = mapping.get("date_format", [])
    forms = [forms] if isinstance(forms, str) else forms
    order = expected["date_order"]
    dates_right = {
        "iso": True,  # a profile's formats cannot read ISO texts: those are read as ISO
        "day_first": bool(forms) and forms[0].startswith("%d"),
        "month_first": bool(forms) and forms[0].startswith(("%m", "%b", "%B")),
    }.get(order, True)
    reference = columns.get("reference")
    return {
        "system": constants.get("source") == expected["system"],
        "kind": kind(constants.get("type", "")) == kind(expected["kind"]),
        "reference": (
            reference is None if not expected["reference"] else reference == expected["reference"]
        ),
        "account": (
            result.code == 1 and "account" in result.err
            if not expected["account"]
            else "account" in columns and first(columns["account"]) == expected["account"][0]
        ),
        "happened_at": first(columns.get("happened_at", "")) == expected["happened_at"],
        "dates": dates_right,
    }


#: what init does not get right yet on this corpus, and why: each is named, none hidden
KNOWN_MISSES: dict[tuple[str, str], str] = {}
