"""What init tells the analyst about the sample: rows sharing a reference, the time zone it
assumed, an inbox address that is no contact, and how to finish when a field is missing."""

from __future__ import annotations

import tomllib

from ..helpers import write_csv
from .answer_key import REAL


def test_rows_sharing_references_are_counted_as_activities(cli, tmp_path):
    # an audit log: one row per update of an incident
    result = cli("init", REAL / "servicenow-incident-events.csv", "--output", tmp_path / "m.toml")
    assert "400 sampled rows hold 66 distinct references" in result.out
    assert "the run counts rows, not activities" in result.out


def test_times_without_an_offset_say_utc_was_assumed_and_with_one_do_not(cli, tmp_path):
    rows = [["Ticket ID", "Company", "Created", "Type", "Source"]]
    rows += [[f"T-{i}", "Acme", "2024-01-02 10:00", "Call", "Aircall"] for i in range(3)]
    naive = cli("init", write_csv(tmp_path / "a.csv", rows), "--output", tmp_path / "a.toml")
    assert "timezone     UTC assumed: the times carry no offset" in naive.out
    for row in rows[1:]:
        row[2] = "2024-01-02T10:00:00+02:00"
    aware = cli("init", write_csv(tmp_path / "b.csv", rows), "--output", tmp_path / "b.toml")
    assert "UTC assumed" not in aware.out


def test_one_address_on_every_row_is_no_contact(cli, tmp_path):
    rows = [["Ticket ID", "Company", "Created", "Type", "Source", "recipient"]]
    rows += [
        [f"T-{i}", "Acme", "2024-01-02 10:00", "Call", "Aircall", "support@desk.example"]
        for i in range(5)
    ]
    out = tmp_path / "m.toml"
    cli("init", write_csv(tmp_path / "a.csv", rows), "--output", out)
    assert "contact" not in tomllib.loads(out.read_text(encoding="utf-8"))["columns"]


def test_a_missing_type_says_how_to_give_it(cli, tmp_path):
    rows = [["Ref", "Customer", "When"], ["A-1", "Acme", "2024-01-02 10:00"]]
    result = cli("init", write_csv(tmp_path / "a.csv", rows), "--output", tmp_path / "m.toml")
    assert result.code == 1
    assert result.err.startswith("cg-import: error: type, source: no column found")
    assert "or run init again with --type and --source" in result.err
    assert "Next: fill in type, source in" in result.out
