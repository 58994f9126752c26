"""init recognises the system from an export's headers, and never takes a channel or a
category for the source system or the activity type."""

from __future__ import annotations

import tomllib

import pytest

from ..helpers import SAMPLES, run_subprocess, write_csv


def test_a_freshdesk_export_lacking_some_profile_columns_is_still_recognised(cli, tmp_path):
    # the export dialog let the analyst leave out Agent, Group, Priority and the e-mail
    rows = [
        ["Ticket ID", "Subject", "Status", "Source", "Type", "Company Name", "Created time"],
        ["101", "Login", "Open", "Email", "Problem", "Acme", "2024-03-04 10:00:00"],
        ["102", "Export", "Closed", "Phone", "Question", "", "2024-03-05 11:00:00"],
    ]
    source = write_csv(tmp_path / "tickets.csv", rows)
    result = cli("init", source, "--output", tmp_path / "m.toml")
    assert "recognised: Freshdesk export" in result.out, result.out
    text = (tmp_path / "m.toml").read_text(encoding="utf-8")
    mapping = tomllib.loads(text)
    assert mapping["constants"] == {"type": "Support Ticket", "source": "Freshdesk"}
    assert "recognised by the headers 'Ticket ID'" in text
    assert mapping["additional_information"]["channel"] == "Source"


def test_our_own_activity_file_is_no_vendor_export(cli, tmp_path):
    # Subject, Status, Priority, Source and Type are in many exports: they recognise none
    result = cli("init", SAMPLES / "activities.csv", "--output", tmp_path / "m.toml")
    assert "no known export recognised" in result.out
    mapping = tomllib.loads((tmp_path / "m.toml").read_text(encoding="utf-8"))
    assert mapping["columns"]["type"] == "Type" and mapping["columns"]["source"] == "Source"


def test_channels_and_categories_are_never_taken_for_source_or_type(cli, tmp_path):
    rows = [
        ["Ticket", "Subject", "Company", "Source", "Type", "Created"],
        ["1", "A", "Acme", "Email", "Problem", "2024-01-02 10:00"],
        ["2", "B", "Beta", "Phone", "Question", "2024-01-03 10:00"],
        ["3", "C", "Gamma", "Portal", "Incident", "2024-01-04 10:00"],
    ]
    source = write_csv(tmp_path / "desk.csv", rows)
    result = cli("init", source, "--output", tmp_path / "m.toml")
    assert result.code == 1
    assert "'Source' was not taken as the source system: its values are channels" in result.out
    assert "'Type' was not taken as the activity type: its values are categories" in result.out
    columns = tomllib.loads((tmp_path / "m.toml").read_text(encoding="utf-8"))["columns"]
    assert columns["source"] == columns["type"] == "CHOOSE A COLUMN"


def test_numeric_codes_are_never_taken_for_source(cli, tmp_path):
    # Freshdesk's API writes the channel as a number: 1 email, 2 portal, 3 phone, 9 widget
    rows = [["id", "company", "source", "created_at"]]
    rows += [[str(i), "Acme", code, "2024-01-02T10:00:00Z"] for i, code in enumerate("1239", 1)]
    source = write_csv(tmp_path / "api.csv", rows)
    result = cli("init", source, "--output", tmp_path / "m.toml")
    assert "'source' was not taken as source: its values are codes ('1', '2', '3')" in result.out


def test_an_unrecognised_export_takes_type_and_source_given_to_init(cli, tmp_path):
    rows = [
        ["ref", "summary", "caller", "opened"],
        ["AC-1", "Email down", "Abel Tuter", "2024-03-04 10:00:00"],
        ["AC-2", "VPN slow", "Fred Luddy", "2024-03-05 11:00:00"],
    ]
    source = write_csv(tmp_path / "export.csv", rows)
    out = tmp_path / "m.toml"
    result = cli("init", source, "--output", out, "--type", "Incident", "--source", "Acme Desk")
    assert result.code == 0, result.out + result.err
    assert "no known export recognised" in result.out
    text = out.read_text(encoding="utf-8")
    mapping = tomllib.loads(text)
    assert mapping["constants"] == {"type": "Incident", "source": "Acme Desk"}
    assert 'type = "Incident"  # given to init' in text
    # no company column: the person who raised the record names the customer
    assert mapping["columns"]["account"] == "caller"
    assert "the person who raised it" in result.out


def test_a_servicenow_incident_list_is_recognised_with_the_caller_as_customer(cli, tmp_path):
    rows = [
        ["number", "short_description", "caller_id", "opened_at", "state"],
        ["INC0010001", "Email down", "Abel Tuter", "2024-03-04 10:00:00", "New"],
        ["INC0010002", "VPN slow", "Fred Luddy", "2024-03-05 11:00:00", "Closed"],
    ]
    source = write_csv(tmp_path / "export.csv", rows)
    out = tmp_path / "m.toml"
    result = cli("init", source, "--output", out)
    assert result.code == 0, result.out + result.err
    assert "recognised: ServiceNow export: Incident" in result.out
    mapping = tomllib.loads(out.read_text(encoding="utf-8"))
    assert mapping["constants"] == {"type": "Incident", "source": "ServiceNow"}
    assert mapping["columns"]["account"] == "caller_id"


def test_an_account_blank_on_some_rows_falls_back_to_another_customer_column(cli, tmp_path):
    rows = [
        ["Record Id", "Subject", "Call Start Time", "ACCOUNTID", "Contact Name"],
        ["zcrm_1", "Intro call", "15 Apr, 2021 23:01:19", "zcrm_900", "Ann Lee"],
        ["zcrm_2", "Follow up", "16 Apr, 2021 10:11:12", "", "Bob Ray"],
        ["zcrm_3", "Demo", "17 Apr, 2021 14:00:00", "zcrm_901", ""],
    ]
    source = write_csv(tmp_path / "Calls.csv", rows)
    out = tmp_path / "m.toml"
    result = cli("init", source, "--output", out, "--type", "Call", "--source", "Zoho CRM")
    assert result.code == 0, result.out + result.err
    mapping = tomllib.loads(out.read_text(encoding="utf-8"))
    assert mapping["columns"]["account"] == ["ACCOUNTID", "Contact Name"]
    assert "sample of 3 rows validated: 3 valid" in result.out


def test_init_asks_nothing_when_stdin_is_no_terminal(tmp_path):
    # a script or cron: the placeholders are written and init says what to fill in
    rows = [["ref", "caller", "opened"], ["AC-1", "Abel", "2024-03-04 10:00:00"]]
    source = write_csv(tmp_path / "export.csv", rows)
    done = run_subprocess("init", source, "--output", "m.toml", cwd=tmp_path, timeout=60)
    assert done.code == 1
    assert "type, source: no column found" in done.err


def test_the_files_name_gives_the_kind_no_column_gives(cli, tmp_path):
    # Dynamics 365 writes calls and tasks with the same headers: only the name tells
    rows = [
        ["subject", "description", "createdon", "duedate", "accountid", "statecode"],
        ["Follow up", "x", "11-17-2009", "11-18-2009", "A. Datum Corporation", "open"],
        ["Check in", "y", "11-20-2009", "11-21-2009", "Contoso", "open"],
    ]
    for name, kind in (("phonecall.csv", "Call"), ("task.csv", "Task")):
        source = write_csv(tmp_path / name, rows)
        out = tmp_path / f"{name}.toml"
        assert cli("init", source, "--output", out).code == 0
        text = out.read_text(encoding="utf-8")
        assert tomllib.loads(text)["constants"]["type"] == kind
        assert f"from the file's name ({name})" in text


def test_init_shows_the_first_rows_as_sent_and_proposes_the_markers_of_nothing(cli, tmp_path):
    rows = [
        ["Ticket", "Company", "Type", "Source", "Created", "Agent"],
        ["T-1", "Acme", "Call", "Aircall", "2024-03-04 10:00:00", "N/A"],
        ["T-2", "?", "Call", "Aircall", "2024-03-05 11:00:00", "ann"],
        ["T-3", "Beta", "Call", "Aircall", "2024-03-06 12:00:00", "bob"],
    ]
    source = write_csv(tmp_path / "desk.csv", rows)
    out = tmp_path / "m.toml"
    result = cli("init", source, "--output", out)
    assert tomllib.loads(out.read_text(encoding="utf-8"))["blank_values"] == ["?", "N/A"]
    assert "sample of 3 rows validated: 1 invalid, 2 valid (67% valid)" in result.out
    table = result.out.split("as they would be sent (happened_at in UTC):\n")[1].splitlines()
    assert table[0].split() == ["reference", "account", "type", "source", "happened_at"]
    assert table[1].split() == ["T-1", "Acme", "Call", "Aircall", "2024-03-04", "10:00:00"]


def test_no_id_column_gives_derived_references_and_says_what_that_means(cli, tmp_path):
    rows = [["Company", "Created", "Note"], ["Acme", "2024-03-04 10:00", "x"]]
    source = write_csv(tmp_path / "notes.csv", rows)
    out = tmp_path / "m.toml"
    result = cli("init", source, "--output", out, "--type", "Note", "--source", "Excel")
    assert "reference: no ID column: derived from each row's content" in result.out
    text = out.read_text(encoding="utf-8")
    assert "a row edited later in the export is sent as a new activity" in text
    assert "reference" not in tomllib.loads(text)["columns"]


def test_init_on_a_retry_file_never_takes_its_trace_for_a_field(cli, tmp_path):
    # original_row is unique and original_file the same on every row: neither is sent
    rows = [
        ["Company", "Created", "Note", "original_row", "original_file"],
        ["Acme", "2024-03-04 10:00", "call back", "7", "march.csv"],
        ["Beta", "2024-03-05 10:00", "call back", "9", "march.csv"],
    ]
    source = write_csv(tmp_path / "march-report.retry.csv", rows)
    out = tmp_path / "m.toml"
    cli("init", source, "--output", out, "--type", "Note", "--source", "Excel")
    mapping = tomllib.loads(out.read_text(encoding="utf-8"))
    assert "original_row" not in str(mapping["columns"])
    assert set(mapping["additional_information"]) == {"Note"}


def test_a_header_with_a_blank_first_cell_is_still_the_header(cli, tmp_path):
    # the index column pandas writes has no header: the header row has one cell fewer
    rows = [["", "Ticket ID", "Customer", "Created", "Email"]]
    rows += [[str(i), f"T{i}", "Acme", "2024-03-04 09:15", f"p{i}@x.example"] for i in range(3)]
    out = tmp_path / "m.toml"
    result = cli("init", write_csv(tmp_path / "a.csv", rows), "--output", out, "--type", "T")
    mapping = tomllib.loads(out.read_text(encoding="utf-8"))
    assert "header_row" not in mapping, result.out
    assert mapping["columns"]["reference"] == "Ticket ID"


def test_blank_type_and_source_columns_are_not_taken(cli, tmp_path):
    rows = [["Id", "Customer", "Date", "Source", "Type"]]
    rows += [[str(i), "Acme", f"2024-03-0{i + 1}", "", ""] for i in range(3)]
    out = tmp_path / "m.toml"
    result = cli("init", write_csv(tmp_path / "a.csv", rows), "--output", out)
    assert result.code == 1
    assert "'Type' was not taken as type: it is blank in the sample" in result.out
    columns = tomllib.loads(out.read_text(encoding="utf-8"))["columns"]
    assert columns["type"] == columns["source"] == "CHOOSE A COLUMN"


def test_a_one_row_export_keeps_its_id_column(cli, tmp_path):
    rows = [["Ticket ID", "Company", "Created"], ["1", "Acme", "2024-03-04 09:15"]]
    out = tmp_path / "m.toml"
    argv = ["--output", out, "--type", "T", "--source", "S"]
    assert cli("init", write_csv(tmp_path / "a.csv", rows), *argv).code == 0
    assert tomllib.loads(out.read_text(encoding="utf-8"))["columns"]["reference"] == "Ticket ID"


def test_a_blank_type_or_source_is_refused(cli, tmp_path):
    rows = [["Ticket ID", "Company", "Created"], ["1", "Acme", "2024-03-04 09:15"]]
    out = tmp_path / "m.toml"
    result = cli("init", write_csv(tmp_path / "a.csv", rows), "--output", out, "--type", " ")
    assert result.code == 2 and "--type must not be blank" in result.err
    mapping = tmp_path / "m.toml"
    mapping.write_text('[constants]\ntype = "  "\n', encoding="utf-8")
    checked = cli("validate", tmp_path / "a.csv", "--mapping", mapping)
    assert checked.code == 2 and "[constants] type is blank" in checked.err


@pytest.mark.parametrize(
    ("headers", "recognised"),
    [
        (  # a Dynamics 365 case view exported with its labels
            ["Case Number", "Case Title", "Customer", "Origin", "Created On", "Status Reason"],
            "Dynamics 365 export: Case",
        ),
        (  # ServiceNow catalog tasks: the task table's own fields, not an incident's
            [
                "number",
                "short_description",
                "request_item",
                "request",
                "requested_for",
                "opened_at",
                "approval",
                "sys_class_name",
            ],
            "ServiceNow export: Task",
        ),
        (  # a Jira Service Management export: a service desk's fields beside Jira's
            [
                "Summary",
                "Issue key",
                "Reporter",
                "Created",
                "Custom field (Request Type)",
                "Custom field (Request participants)",
                "Satisfaction rating",
            ],
            "Jira export: Support Ticket",
        ),
        (  # Freshdesk's API names: the numeric "source" is the channel, not the system
            ["id", "subject", "company_id", "requester_id", "responder_id", "source", "created_at"],
            "Freshdesk export: Support Ticket",
        ),
    ],
)
def test_profiles_from_documented_field_names_are_recognised(cli, tmp_path, headers, recognised):
    row = {
        "Case Number": "CAS-01001-A1B2",
        "Issue key": "SD-1",
        "number": "SCTASK0010001",
        "requested_for": "Abel Tuter",
        "opened_at": "2024-03-04 10:00:00",
        "Reporter": "ana@acme.example",
        "Created": "22/Sep/25 9:26 AM",
        "id": "1001",
        "Customer": "Acme",
        "company_id": "5001",
        "Created On": "2024-03-04 10:00:00",
        "created_at": "2024-03-04T10:00:00Z",
        "source": "2",
    }
    rows = [headers, [row.get(header, "x") for header in headers]]
    result = cli("init", write_csv(tmp_path / "export.csv", rows), "--output", tmp_path / "m.toml")
    assert f"recognised: {recognised}" in result.out, result.out


def test_na_is_a_value_not_a_marker_of_nothing(cli, tmp_path):
    # "NA" is North America in a region column: never proposed as blank
    rows = [["Ticket ID", "Company", "Created", "Region", "Note"]]
    rows += [[f"T-{i}", "Acme", "2024-01-02 10:00", "NA", "N/A"] for i in range(3)]
    out = tmp_path / "m.toml"
    cli(
        "init", write_csv(tmp_path / "a.csv", rows), "--output", out, "--type", "T", "--source", "S"
    )
    assert tomllib.loads(out.read_text(encoding="utf-8"))["blank_values"] == ["N/A"]
