"""``cg-import init``: a mapping proposed for an export, then used as it was written."""

from __future__ import annotations

import tomllib

import pytest

from .conftest import SAMPLES, api_args
from .helpers import read_report, write_csv

#: sample → rows ``validate`` finds invalid with the proposed mapping (the file's own faults)
EXPORTS = {
    "salesforce_cases.csv": set(),
    "salesforce_cases_extract.csv": {19},
    "salesforce_cases_sf_cli.csv": set(),
    "freshdesk_tickets_export.csv": set(),
    "freshdesk_tickets.csv": set(),
    "zendesk_tickets_export.csv": set(),
    "zendesk_tickets.csv": set(),
    "hubspot_tickets.csv": set(),
    "us_calls_month_first.csv": set(),
    "activities_titled.xlsx": {9, 14, 18},
}


@pytest.mark.parametrize("sample", sorted(EXPORTS))
def test_init_proposes_a_mapping_that_validates_every_valid_row(cli, tmp_path, sample):
    mapping = tmp_path / "mapping.toml"
    result = cli("init", SAMPLES / sample, "--output", mapping)
    assert result.code == 0, result.output
    assert "sample of" in result.out and "valid" in result.out
    report = tmp_path / "r.csv"
    checked = cli("validate", SAMPLES / sample, "--mapping", mapping, "--report", report)
    lines = read_report(report)
    invalid = {int(line["source_row"]) for line in lines if line["status"] != "valid"}
    assert invalid == EXPORTS[sample], checked.output
    assert checked.code == (1 if invalid else 0)


@pytest.mark.parametrize(
    ("sample", "profile"),
    [
        ("salesforce_cases.csv", "Salesforce"),
        ("salesforce_cases_extract.csv", "Salesforce"),
        ("freshdesk_tickets_export.csv", "Freshdesk"),
        ("zendesk_tickets_export.csv", "Zendesk"),
        ("hubspot_tickets.csv", "Hubspot"),
    ],
)
def test_init_recognises_known_exports(cli, tmp_path, sample, profile):
    mapping = tmp_path / "m.toml"
    result = cli("init", SAMPLES / sample, "--output", mapping)
    assert f"recognised: {profile} export" in result.out
    text = mapping.read_text(encoding="utf-8")
    assert f'source = "{profile.replace("Hubspot", "HubSpot")}"' in text


def test_every_input_column_is_listed(cli, tmp_path):
    mapping = tmp_path / "m.toml"
    cli("init", SAMPLES / "freshdesk_tickets_export.csv", "--output", mapping)
    text = mapping.read_text(encoding="utf-8")
    header = (SAMPLES / "freshdesk_tickets_export.csv").read_text(encoding="utf-8").splitlines()[0]
    for column in header.split(","):
        assert f'"{column}"' in text, column
    assert '# "Survey results" = "Survey results"  # blank in the sample' in text


@pytest.mark.usefixtures("api_env")
def test_us_month_first_times_arrive_right(cli, sandbox, tmp_path):
    mapping = tmp_path / "m.toml"
    source = SAMPLES / "us_calls_month_first.csv"
    result = cli("init", source, "--output", mapping)
    assert result.code == 0, result.output
    proposed = tomllib.loads(mapping.read_text(encoding="utf-8"))
    assert proposed["date_format"] == "%m/%d/%Y %I:%M %p"
    assert proposed["columns"] == {
        "reference": "Call ID",
        "account": "Customer",
        "contact": "Email",
        "type": "Type",
        "source": "Source",
        "happened_at": "Started",
    }
    result = cli(
        "run", source, "--mapping", mapping, "--report", tmp_path / "r.csv", *api_args(sandbox)
    )
    assert result.code == 0, result.output
    activities = sandbox.sandbox.activities
    assert activities["C-7700"]["happened_at"] == "2024-03-01 13:04:00"  # 3/1/2024 1:04 PM
    assert activities["C-7701"]["happened_at"] == "2024-03-02 08:05:00"  # 3/2/2024 8:05 AM
    assert len(activities) == 24


def test_no_account_column_exits_1_naming_account(cli, tmp_path):
    rows = [["Ticket", "Created", "Requester", "Note"]]
    rows += [[f"T-{i}", f"2024-05-{i + 1:02d} 10:00", f"p{i}@x.example", "hi"] for i in range(9)]
    source = write_csv(tmp_path / "in.csv", rows)
    mapping = tmp_path / "m.toml"
    result = cli("init", source, "--output", mapping)
    assert result.code == 1
    assert "account" in result.err and "Traceback" not in result.output
    text = mapping.read_text(encoding="utf-8")
    assert 'account = "CHOOSE A COLUMN"  # REQUIRED' in text
    assert "candidates: 'Note'" in text
    proposed = tomllib.loads(text)
    assert proposed["columns"]["happened_at"] == "Created"
    assert proposed["columns"]["contact"] == "Requester"
    assert proposed["columns"]["reference"] == "Ticket"
    checked = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert checked.code == 2 and "account" in checked.err


def test_never_overwrites_without_force(cli, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text("# mine\n", encoding="utf-8")
    result = cli("init", SAMPLES / "zendesk_tickets.csv", "--output", mapping)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and "--force" in result.err
    assert mapping.read_text(encoding="utf-8") == "# mine\n"
    result = cli("init", SAMPLES / "zendesk_tickets.csv", "--output", mapping, "--force")
    assert result.code == 0 and "[columns]" in mapping.read_text(encoding="utf-8")


def test_title_block_gives_the_header_row(cli, tmp_path):
    mapping = tmp_path / "m.toml"
    cli("init", SAMPLES / "activities_titled.xlsx", "--output", mapping)
    proposed = tomllib.loads(mapping.read_text(encoding="utf-8"))
    assert proposed["header_row"] == 4 and proposed["sheet"] == "Q1 activities"


def test_day_first_is_inferred_and_an_ambiguous_sample_asks(cli, tmp_path):
    rows = [["Account", "Type", "Source", "When"]]
    rows += [["Acme", "Call", "Phone", f"{d}/0{m}/2024"] for d, m in ((3, 4), (21, 5), (1, 2))]
    mapping = tmp_path / "m.toml"
    cli("init", write_csv(tmp_path / "a.csv", rows), "--output", mapping)
    assert tomllib.loads(mapping.read_text(encoding="utf-8"))["date_format"] == "%d/%m/%Y"
    ambiguous = [rows[0], rows[1], rows[3]]
    result = cli("init", write_csv(tmp_path / "b.csv", ambiguous), "--output", mapping, "--force")
    text = mapping.read_text(encoding="utf-8")
    assert "date_format" not in tomllib.loads(text)
    assert '"%d/%m/%Y" or "%m/%d/%Y"' in text and "could be day-first" in result.out
