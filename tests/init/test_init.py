"""``cg-import init``: a mapping proposed for an export, then used as it was written."""

from __future__ import annotations

import re
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.mapping import load_mapping

from ..helpers import SAMPLES, api_args, read_report, write_csv

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
        ("hubspot_tickets.csv", "HubSpot"),
    ],
)
def test_init_recognises_known_exports(cli, tmp_path, sample, profile):
    mapping = tmp_path / "m.toml"
    result = cli("init", SAMPLES / sample, "--output", mapping)
    assert f"recognised: {profile} export" in result.out
    text = mapping.read_text(encoding="utf-8")
    assert f'source = "{profile}"' in text


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
    assert 'candidates: "Note"' in text
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
    rows += [["Acme", "Call", "Aircall", f"{d}/0{m}/2024"] for d, m in ((3, 4), (21, 5), (1, 2))]
    mapping = tmp_path / "m.toml"
    cli("init", write_csv(tmp_path / "a.csv", rows), "--output", mapping)
    assert tomllib.loads(mapping.read_text(encoding="utf-8"))["date_format"] == "%d/%m/%Y"
    ambiguous = [rows[0], rows[1], rows[3]]
    result = cli("init", write_csv(tmp_path / "b.csv", ambiguous), "--output", mapping, "--force")
    text = mapping.read_text(encoding="utf-8")
    assert "date_format" not in tomllib.loads(text)
    assert '"%d/%m/%Y" or "%m/%d/%Y"' in text and "could be day-first" in result.out


# --- hostile headers: the file written always loads --------------------------------------

#: a header a CSV can hold that a TOML file must escape, or that a mapping reads specially
_AWKWARD = (
    'He said "hi"',
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "a=b",
    "# not a comment",
    "[section]",
    "]",
    "  padded  ",
    "tab\there",
    "bell\x07 and del\x7f",
    "unit\x1fsep",
    "Zoë ☃ 名前",
    "Watchers",
    "Watchers #2",
    "account",
)
_HEADER = st.one_of(
    st.sampled_from(_AWKWARD),
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
        min_size=1,
        max_size=12,
    ),
)


def _loads_and_validates(cli, folder, headers: list[str]) -> None:
    """``init`` on a CSV with ``headers`` (after four usable columns) leaves a mapping the
    project's loader reads, and ``validate`` with it ends with an exit code, not a crash."""
    header = ["Account", "Type", "Source", "Created", *headers]
    rows = [header]
    # the cells hold the awkward texts too: init quotes the first one as an example
    rows += [
        ["Acme", "Call", "Aircall", f"2024-05-0{i + 1} 10:00", *(f"{h}{i}" for h in headers)]
        for i in range(3)
    ]
    source = write_csv(folder / "in.csv", rows)
    mapping = folder / "m.toml"
    made = cli("init", source, "--output", mapping, "--force")
    assert "Traceback" not in made.output and "internal error" not in made.err, made.output
    if made.code == 2:  # refused the input: one line, and no mapping written
        assert len(made.err.strip().splitlines()) == 1, made.err
        return
    assert made.code in (0, 1), made.output
    text = mapping.read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", text), "a raw control character"
    load_mapping(mapping)  # raises MappingError if init wrote a file that does not load
    assert "sample not validated: mapping file" not in made.out, made.out
    checked = cli("validate", source, "--mapping", mapping, "--report", folder / "r.csv")
    assert checked.code in (0, 1, 2), checked.output
    assert "Traceback" not in checked.output and "internal error" not in checked.err
    assert "warning" not in checked.err, checked.err  # every column it names is found
    if made.code == 0:  # a mapping init calls complete is one validate can use
        assert checked.code != 2, checked.output


def test_awkward_and_repeated_headers_give_a_mapping_that_loads(cli, tmp_path):
    headers = [*_AWKWARD, "Watchers", "Watchers", 'He said "hi"', "line\nbreak"]
    _loads_and_validates(cli, tmp_path, headers)


def test_jira_watchers_three_times_are_each_listed_once(cli, tmp_path):
    rows = [["Account", "Type", "Source", "Created", "Watchers", "Watchers", "Watchers"]]
    rows += [["Acme", "Call", "Aircall", "2024-05-01 10:00", "ann", "bob", "cy"]]
    mapping = tmp_path / "m.toml"
    result = cli("init", write_csv(tmp_path / "jira.csv", rows), "--output", mapping)
    assert result.code == 0, result.output
    extras = load_mapping(mapping).additional_information or {}
    assert sorted(extras.values()) == [("Watchers #1",), ("Watchers #2",), ("Watchers #3",)]
    report = tmp_path / "r.csv"
    assert (
        cli("validate", tmp_path / "jira.csv", "--mapping", mapping, "--report", report).code == 0
    )


def test_a_header_with_a_line_break_stays_inside_its_comment(cli, tmp_path):
    rows = [["Ticket", "Created", 'Not"e\nsecond line']]
    rows += [[f"T-{i}", f"2024-05-{i + 1:02d} 10:00", "hi"] for i in range(9)]
    mapping = tmp_path / "m.toml"
    result = cli("init", write_csv(tmp_path / "in.csv", rows), "--output", mapping)
    assert result.code == 1  # account, type and source are still to be chosen
    text = mapping.read_text(encoding="utf-8")
    assert 'candidates: "Not\\"e\\nsecond line"' in text
    assert load_mapping(mapping).columns["account"] == ("CHOOSE A COLUMN",)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.lists(_HEADER, min_size=1, max_size=6),
    repeats=st.lists(st.integers(min_value=0, max_value=5), max_size=3),
)
def test_any_headers_give_a_mapping_that_loads(cli, tmp_path_factory, headers, repeats):
    repeated = headers + [headers[i % len(headers)] for i in repeats]
    _loads_and_validates(cli, tmp_path_factory.mktemp("init"), repeated)
