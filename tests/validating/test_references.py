"""Derived references: a row without a reference gets one no other payload shares."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.validate import derive_references

from ..helpers import FAST, api_args, read_report, write_csv

pytestmark = pytest.mark.usefixtures("api_env")


def test_values_built_to_collide_get_different_references(cli, sandbox, tmp_path):
    # under a "key=value" joining, both rows read "a=b=c": one would be skipped as a duplicate
    header = ["Account", "Type", "Source", "Happened At", "a=b", "a"]
    base = ["Acme", "Call", "Phone", "2024-01-02 10:00:00"]
    rows = [header, [*base, "c", ""], [*base, "", "b=c"]]
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("run", source, "--report", tmp_path / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 0, result.err
    lines = read_report(tmp_path / "r.csv")
    assert [line["status"] for line in lines] == ["imported", "imported"]
    assert lines[0]["reference"] != lines[1]["reference"]
    assert sandbox.sandbox.stats.created == 2


texts = st.none() | st.text(max_size=6)


rows_strategy = st.fixed_dictionaries(
    {
        "account": st.text(min_size=1, max_size=6),
        "contact": texts,
        "extra_a": texts,
        "extra_b": texts,
    }
)


@given(st.lists(rows_strategy, min_size=2, max_size=6))
def test_derived_references_differ_whenever_the_payloads_differ(rows):
    fields = pd.DataFrame(
        {
            "account": [r["account"] for r in rows],
            "contact": [r["contact"] for r in rows],
            "type": "Call",
            "source": "Phone",
            "happened_at": pd.Series(["2024-01-02 10:00:00"] * len(rows), dtype="datetime64[s]"),
        }
    )
    extras = pd.DataFrame({"a=": [r["extra_a"] for r in rows], "a": [r["extra_b"] for r in rows]})
    references = derive_references(fields, extras)

    def payload(row: dict[str, Any]) -> str:
        info = {k: v for k, v in (("a=", row["extra_a"]), ("a", row["extra_b"])) if v is not None}
        return json.dumps([row["account"], row["contact"], info], sort_keys=True)

    by_payload = {payload(r): ref for r, ref in zip(rows, references, strict=True)}
    assert len(set(by_payload.values())) == len(by_payload)
