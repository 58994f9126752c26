"""The ready-made profiles on real-shaped exports, and the mapping features they rely on:
alternative headers, several date formats, optional extra columns, blank values, header
rows below a title block, Excel error cells and date hints that fit the value."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest

from importer.dates import parse_timestamps

from ..helpers import (
    HEADER,
    PROFILES,
    SAMPLES,
    activity_rows,
    api_args,
    read_by,
    read_report,
    read_rows,
    write_csv,
)

#: (profile, sample, rows expected invalid → a word of their error)
REAL_EXPORTS = [
    ("salesforce", "salesforce_cases.csv", {}),
    ("salesforce", "salesforce_cases_extract.csv", {19: "account: is required"}),
    ("salesforce", "salesforce_cases_sf_cli.csv", {}),
    ("freshdesk", "freshdesk_tickets_export.csv", {}),
    ("freshdesk", "freshdesk_tickets.csv", {}),
    ("zendesk", "zendesk_tickets_export.csv", {}),
    ("zendesk", "zendesk_tickets.csv", {}),
    ("hubspot", "hubspot_tickets.csv", {}),
]


@pytest.mark.parametrize(("profile", "sample", "invalid"), REAL_EXPORTS)
def test_each_profile_validates_its_real_exports(cli, tmp_path, profile, sample, invalid):
    report = tmp_path / "r.csv"
    result = cli(
        "validate", SAMPLES / sample, "--mapping", PROFILES / f"{profile}.toml", "--report", report
    )
    assert result.code == (1 if invalid else 0), result.err
    lines = read_report(report)
    assert len(lines) >= 8
    bad = {int(line["source_row"]): line["errors"] for line in lines if line["status"] != "valid"}
    assert set(bad) == set(invalid)
    for row, word in invalid.items():
        assert word in bad[row]


@pytest.mark.usefixtures("api_env")
def test_salesforce_extract_reads_the_empty_lookup_as_blank_and_utc_times(cli, sandbox, tmp_path):
    result = cli(
        "run",
        SAMPLES / "salesforce_cases_extract.csv",
        "--mapping",
        PROFILES / "salesforce.toml",
        "--report",
        tmp_path / "r.csv",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 1, result.err  # row 19 has no account (000000000000000AAA)
    activities = sandbox.sandbox.activities
    assert len(activities) == 23 and "00001117" not in activities
    first = activities["00001100"]
    assert first["happened_at"] == "2024-01-22 22:36:55"  # 2024-01-22T22:36:55.000+0000
    assert first["account"] == "0015g00000Q1bLAAAZ"
    assert first["contact"] == "anna.k@brightlane.example"
    assert "000000000000000AAA" not in json.dumps(list(activities.values()))
    # a web case: ContactEmail blank, the e-mail typed into the web form next in the list
    assert activities["00001103"]["contact"] == "mchen@harborpine.example"


@pytest.mark.usefixtures("api_env")
def test_zendesk_naive_times_are_read_in_the_zone_given(cli, sandbox, tmp_path):
    result = cli(
        "run",
        SAMPLES / "zendesk_tickets_export.csv",
        "--mapping",
        PROFILES / "zendesk.toml",
        "--timezone",
        "Europe/Amsterdam",
        "--report",
        tmp_path / "r.csv",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 0, result.err
    # 2023-04-04 10:59:22 in Amsterdam (CEST, +02:00) is 08:59:22 UTC
    assert sandbox.sandbox.activities["9120"]["happened_at"] == "2023-04-04 08:59:22"


def test_missing_additional_columns_are_one_warning_not_fatal(cli, tmp_path):
    report = tmp_path / "r.csv"
    result = cli(
        "validate",
        SAMPLES / "freshdesk_tickets_export.csv",
        "--mapping",
        PROFILES / "freshdesk.toml",
        "--report",
        report,
        "--quiet",
    )
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "agent ('Agent')" in warnings[0] and "group" in warnings[0]
    summary = json.loads(report.with_name("r.csv.summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == [warnings[0].removeprefix("cg-import: warning: ")]


def test_columns_stay_strict_and_name_every_alternative(cli, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\naccount = ["Kunde", "Firma"]\n[constants]\ntype = "Call"\n', encoding="utf-8"
    )
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "'Kunde' or 'Firma'" in result.err and "Traceback" not in result.err


def test_first_filled_of_the_columns_listed_wins_and_blank_values_are_blank(
    cli, sandbox, api_env, tmp_path
):
    # "Account" is absent; in each row "Name" if filled, else "Company"
    rows = [["Name", "Company", *HEADER[2:]], *activity_rows(4)]
    rows[1][0] = "n/a"  # blank by blank_values: Company's name is sent
    rows[2][0] = "N/A"  # only the exact text listed is blank: sent as it is
    rows[3][0], rows[3][1] = "", " "  # both blank: nothing can name the customer
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'blank_values = ["n/a"]\n[columns]\naccount = ["Account", "Name", "Company"]\n',
        encoding="utf-8",
    )
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 1
    lines = read_report(tmp_path / "r.csv")
    assert [line["status"] for line in lines] == ["valid", "valid", "invalid", "valid"]
    assert lines[2]["errors"] == "account: is required"
    argv = ["--mapping", mapping, "--report", tmp_path / "s.csv", *api_args(sandbox)]
    assert cli("run", source, *argv, "--rate", "0").code == 1
    accounts = sorted(activity["account"] for activity in sandbox.sandbox.activities.values())
    assert accounts == sorted([rows[1][1], "N/A", rows[4][0]])


def test_csv_title_block_is_skipped_and_rows_keep_their_numbers(cli, tmp_path):
    rows = [["Activities export"], ["Generated 2024-04-01"], [], HEADER, *activity_rows(5)]
    rows[6][1] = ""  # the third data row, row 7 of the file, has no account
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 1, result.err
    lines = read_report(tmp_path / "r.csv")
    assert [line["source_row"] for line in lines] == ["5", "6", "7", "8", "9"]
    assert [line["status"] for line in lines] == ["valid", "valid", "invalid", "valid", "valid"]
    mapping = tmp_path / "m.toml"
    mapping.write_text("header_row = 4\n", encoding="utf-8")
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r2.csv")
    assert result.code == 1
    assert read_report(tmp_path / "r2.csv")[0]["source_row"] == "5"


def test_workbook_title_block_and_excel_errors(cli, tmp_path, excel_reader):
    read_by(SAMPLES / "activities_titled.xlsx", excel_reader)
    report = tmp_path / "r.csv"
    result = cli("validate", SAMPLES / "activities_titled.xlsx", "--report", report)
    assert result.code == 1, result.err
    header = read_rows(report)[0]
    assert "#REF!" not in header and "Q1 customer activities" not in header
    lines = read_report(report)
    assert [int(line["source_row"]) for line in lines] == list(range(5, 25))
    invalid = {
        int(line["source_row"]): line["errors"] for line in lines if line["status"] != "valid"
    }
    assert set(invalid) == {9, 14, 18}
    assert "(G9): cell holds the Excel error #REF!" in invalid[9]
    assert "cell holds the Excel error #DIV/0!" in invalid[14]
    assert "column 'Account' (B18): cell holds the Excel error #N/A" in invalid[18]


@pytest.mark.usefixtures("excel_reader")
def test_an_excel_error_in_a_column_not_sent_does_not_matter(cli, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('[additional_information]\nsubject = "Subject"\n', encoding="utf-8")
    report = tmp_path / "r.csv"
    cli("validate", SAMPLES / "activities_titled.xlsx", "--mapping", mapping, "--report", report)
    invalid = [line["source_row"] for line in read_report(report) if line["status"] != "valid"]
    assert invalid == ["9", "18"]  # H14 (#DIV/0!) is in Score, which is not sent


def test_error_header_cell_is_no_header(cli, tmp_path, excel_reader):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet["H1"] = "#NAME?"
    sheet["H1"].data_type = "e"
    for row in activity_rows(2):
        sheet.append(row)
    sheet["H3"] = "x"
    path = tmp_path / "in.xlsx"
    book.save(path)
    read_by(path, excel_reader)
    cli("validate", path, "--report", tmp_path / "r.csv")
    header = read_rows(tmp_path / "r.csv")[0]
    assert "#NAME?" not in header
    lines = read_report(tmp_path / "r.csv")
    assert lines[0]["status"] == "valid" and "has no header" in lines[1]["errors"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("31/12/2024", "'31/12/2024' is day-first: set date_format = \"%d/%m/%Y\""),
        ("3/19/2024 9:12", "'3/19/2024 9:12' is month-first: set date_format = \"%m/%d/%Y %H:%M\""),
        ("3/19/2024 9:12 PM", 'is month-first: set date_format = "%m/%d/%Y %I:%M %p"'),
        ("13.02.2024 08:00:05", 'is day-first: set date_format = "%d.%m.%Y %H:%M:%S"'),
        ("06/10/2019", 'date_format = "%d/%m/%Y" or "%m/%d/%Y"'),
    ],
)
def test_date_hints_fit_the_value(value, expected):
    parsed = parse_timestamps(pd.Series([value], index=[2]))
    assert expected in parsed.problem[2]


def test_a_column_mixing_readings_names_rows_of_each():
    values = pd.Series(["31/12/2024", "06/10/2024", "3/19/2024"], index=[2, 3, 4])
    problems = parse_timestamps(values).problem
    assert all(
        "mixes day-first (row 2: '31/12/2024') and month-first (row 4: '3/19/2024')" in p
        for p in problems
    )


def test_date_format_list_is_tried_in_order_per_value(cli, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[1][5] = "19.03.2024 21:12"
    rows[2][5] = "3/19/2024 9:12 PM"
    mapping = tmp_path / "m.toml"
    mapping.write_text('date_format = ["%d.%m.%Y %H:%M", "%m/%d/%Y %I:%M %p"]\n', encoding="utf-8")
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 0, result.err


def test_missing_required_columns_point_to_init(cli, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["Kunde", "Datum"], ["Acme", "2024-01-01"]])
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "cg-import init in.csv" in result.err and len(result.err.strip().splitlines()) == 1
