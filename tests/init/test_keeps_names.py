"""init keeps what names say: an ID column by its name stays the reference though the
sample holds a few blanks or repeats, and init says what happens to those rows."""

from __future__ import annotations

import tomllib

from ..helpers import write_csv


def test_a_ticket_id_with_a_blank_and_a_repeat_stays_the_reference(cli, tmp_path):
    rows = [["Ticket ID", "Company", "Created", "Type", "Source"]]
    rows += [[f"T-{i}", "Acme", "2024-01-02 10:00", "Call", "Aircall"] for i in range(20)]
    rows[5][0] = ""
    rows[9][0] = "T-3"
    source = write_csv(tmp_path / "tickets.csv", rows)
    out = tmp_path / "m.toml"
    result = cli("init", source, "--output", out)
    assert result.code == 0, result.out + result.err
    assert tomllib.loads(out.read_text(encoding="utf-8"))["columns"]["reference"] == "Ticket ID"
    said = "in 20 sampled rows 1 blank (its reference is derived from the row's content)"
    assert said in result.out
    assert "1 repeated (the same activity, updated: the later row wins)" in result.out


def test_a_column_mostly_blank_or_repeated_is_no_reference_by_its_name(cli, tmp_path):
    rows = [["Ticket ID", "Company", "Created", "Type", "Source"]]
    rows += [["T-1" if i % 2 else "", "Acme", "2024-01-02 10:00", "Call", "X"] for i in range(20)]
    source = write_csv(tmp_path / "tickets.csv", rows)
    out = tmp_path / "m.toml"
    cli("init", source, "--output", out)
    assert "reference" not in tomllib.loads(out.read_text(encoding="utf-8"))["columns"]
