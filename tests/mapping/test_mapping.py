"""A mapping file: which column feeds which field, read as it says, refused when it cannot be."""

from __future__ import annotations

import openpyxl
import pytest

from ..helpers import (
    FAST,
    HEADER,
    PROFILES,
    SAMPLES,
    activity_rows,
    api_args,
    assert_clean,
    fifo,
    one_line,
    read_by,
    read_report,
    run_bounded,
    source_file,
    validate_in_process,
    write_csv,
    write_mapping,
)


def test_default_mapping_matches_headers_loosely(tmp_path):
    rows = [["REFERENCE", "account", "Type", "source", "happened-at", "Happened.Note", ""]]
    rows.append(["X", "Acme", "Call", "Excel", "2024-01-01", "note", ""])
    # a value under no header is never silently dropped: that row is a problem
    rows.append(["Y", "Acme", "Call", "Excel", "2024-01-01", "note", "no header"])
    source = write_csv(tmp_path / "in.csv", rows)
    lines = validate_in_process(source, tmp_path)
    assert lines[0]["status"] == "valid", lines[0]["errors"]
    assert lines[1]["status"] == "invalid" and "column 7 (G) has no header" in lines[1]["errors"]


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_two_columns_with_one_header_are_refused_naming_them(cli, tmp_path, suffix, excel_reader):
    header = [*HEADER, "Subject"]
    rows = [header, *[[*row, f"second {i}"] for i, row in enumerate(activity_rows(3))]]
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        write_csv(source, rows)
    else:
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        book.save(source)
        read_by(source, excel_reader)
    before = source.read_bytes()
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "'Subject'" in result.err and "G, H" in result.err and "Subject #2" in result.err
    assert source.read_bytes() == before


@pytest.mark.usefixtures("api_env")
def test_a_mapping_picks_which_of_two_same_headers_is_sent(cli, sandbox, tmp_path):
    header = [*HEADER, "Subject"]
    rows = [header, *[[*row, f"second {i}"] for i, row in enumerate(activity_rows(2))]]
    source = write_csv(tmp_path / "in.csv", rows)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[additional_information]\nsubject = "Subject #2"\n', encoding="utf-8")
    result = cli("run", source, "--mapping", mapping, "--report", tmp_path / "r.csv",
                 *api_args(sandbox), *FAST)  # fmt: skip
    assert result.code == 0, result.err
    info = sandbox.sandbox.activities["R-000001"]["additional_information_object"]
    assert info == {"subject": "second 1"}


@pytest.mark.usefixtures("api_env")
def test_cp1252_semicolons_with_mapping_and_dst(cli, sandbox, tmp_path):
    rows = [
        ["Ticket-Nr", "Kunde", "Betreff", "Erstellt", "Priorität"],
        ["T-1", "Müller GmbH", "Lieferung unvollständig", "30.03.2024 23:30", "hoch"],
        ["T-2", "Société Générale", "Rückfrage", "31.03.2024 03:30", "niedrig"],  # after the jump
        ["T-3", "Bäckerei Schäfer", "Rechnung €", "27.10.2024 03:30", "mittel"],  # after fall back
        ["T-4", "Müller GmbH", "Lücke", "31.03.2024 02:30", "hoch"],  # does not exist
        ["T-5", "Müller GmbH", "doppelt", "27.10.2024 02:30", "hoch"],  # happens twice
    ]
    source = write_csv(tmp_path / "export.csv", rows, encoding="cp1252", delimiter=";")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        'delimiter = ";"\nencoding = "cp1252"\ndate_format = "%d.%m.%Y %H:%M"\n'
        'timezone = "Europe/Berlin"\n\n[columns]\naccount = "Kunde"\nreference = "Ticket-Nr"\n'
        'happened_at = "Erstellt"\n\n[constants]\ntype = "Support Ticket"\nsource = "Zendesk"\n\n'
        '[additional_information]\nsubject = "Betreff"\npriority = "Priorität"\n',
        encoding="utf-8",
    )
    report = tmp_path / "r.csv"
    result = cli(
        "run", source, "--mapping", mapping, "--report", report, *api_args(sandbox), "--rate", "0"
    )
    assert result.code == 1, result.err
    stored = sandbox.sandbox.activities
    assert stored["T-1"]["happened_at"] == "2024-03-30 22:30:00"  # CET, +1
    assert stored["T-2"]["happened_at"] == "2024-03-31 01:30:00"  # CEST, +2
    assert stored["T-3"]["happened_at"] == "2024-10-27 02:30:00"  # CET again
    assert stored["T-1"]["account"] == "Müller GmbH"
    assert stored["T-3"]["additional_information_object"] == {
        "subject": "Rechnung €",
        "priority": "mittel",
    }
    lines = {r["source_row"]: r for r in read_report(report)}
    assert lines["5"]["status"] == "invalid" and "does not exist" in lines["5"]["errors"]
    assert lines["6"]["status"] == "invalid" and "happens twice" in lines["6"]["errors"]
    assert lines["2"]["Kunde"] == "Müller GmbH"  # original columns, unchanged


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize(
    ("profile", "sample"),
    [
        ("zendesk", "zendesk_tickets.csv"),
        ("freshdesk", "freshdesk_tickets.csv"),
        ("salesforce", "salesforce_cases.csv"),
        ("hubspot", "hubspot_tickets.csv"),
    ],
)
def test_profiles_import_their_sample_exports(cli, sandbox, tmp_path, profile, sample):
    result = cli(
        "run",
        SAMPLES / sample,
        "--mapping",
        PROFILES / f"{profile}.toml",
        "--report",
        tmp_path / "r.csv",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 0, result.err
    assert len(sandbox.sandbox.activities) == len(read_report(tmp_path / "r.csv")) > 0


def test_invalid_date_format_in_mapping_is_exit_2(cli, tmp_path):
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    mapping = write_mapping(tmp_path, 'date_format = "%d.%m.%Y %Q"\n')
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 2 and "date_format" in one_line(result.err)


@pytest.mark.usefixtures("api_env")
@pytest.mark.timeout(60)
def test_mapping_that_is_a_fifo_is_refused(tmp_path):
    mapping = fifo(tmp_path / "m.toml")
    source = source_file(tmp_path, 2)

    result, seconds = run_bounded(
        "validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv", timeout=15
    )
    assert result.code == 2, result.output
    assert seconds < 10, f"took {seconds:.1f} s"
    assert_clean(result)
