"""The command line's contract: what cannot run is one line and exit 2; every option has help."""

from __future__ import annotations

import pytest

from importer.cli import build_parser

from ..helpers import SAMPLES, api_args, one_line, write_csv, write_file, write_mapping

BAD_INPUTS = {
    "empty file": (lambda d: [write_file(d / "empty.csv", b"")], "empty"),
    "binary file": (
        lambda d: [write_file(d / "bin.csv", bytes(range(256)) * 20)],
        "binary",
    ),
    "missing required columns": (
        lambda d: [write_csv(d / "cols.csv", [["Name", "When"], ["a", "2024-01-01"]])],
        "required column(s) account, type, source, happened_at not found",
    ),
    "text file named .xlsx": (
        lambda d: [write_file(d / "fake.xlsx", "a,b\n1,2\n")],
        "not an Excel workbook",
    ),
    "missing path": (lambda d: [d / "nowhere.csv"], "no such file"),
    "broken TOML mapping": (
        lambda d: [SAMPLES / "activities.csv", "--mapping", write_mapping(d, "account = Kunde\n")],
        "not valid TOML",
    ),
    "mapping naming an absent header": (
        lambda d: [
            SAMPLES / "activities.csv",
            "--mapping",
            write_mapping(d, '[columns]\naccount = "Kunde"\n'),
        ],
        "names 'Kunde', which is not a header",
    ),
    "unknown field in mapping": (
        lambda d: [
            SAMPLES / "activities.csv",
            "--mapping",
            write_mapping(d, '[columns]\ncustomer = "Account"\n'),
        ],
        "unknown field(s) customer",
    ),
    "unknown sheet": (
        lambda d: [SAMPLES / "activities.xlsx", "--sheet", "Nope"],
        "has no sheet 'Nope'; its sheets are: 'Activities'",
    ),
    "xlsx named .csv": (
        lambda d: [write_file(d / "book.csv", (SAMPLES / "activities.xlsx").read_bytes())],
        "rename it to .xlsx",
    ),
    "unknown time zone": (
        lambda d: [SAMPLES / "activities.csv", "--timezone", "Mars/Olympus"],
        "unknown time zone",
    ),
    "bad report suffix": (
        lambda d: [SAMPLES / "activities.csv", "--report", d / "r.txt"],
        "--report must end in .csv or .xlsx",
    ),
    "far more cells than headers": (
        lambda d: [
            write_file(d / "ragged.csv", "Account,Type,Source,Happened At\n" + "x," * 12 + "\n")
        ],
        "many more cells than the 4 headers",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.usefixtures("excel_reader")
def test_bad_input_is_one_line_and_exit_2(cli, sandbox, api_env, tmp_path, case, command):
    make, expected = BAD_INPUTS[case]
    args = make(tmp_path)
    extra = [*api_args(sandbox)] if command == "run" else []
    if "--report" not in args:
        extra += ["--report", tmp_path / "out" / "r.csv"]
    result = cli(command, *args, *extra)
    assert result.code == 2, result.output
    line = one_line(result.err)
    assert expected in line
    assert sandbox.sandbox.stats.puts == 0


def test_bad_flag_is_one_line_and_exit_2(cli):
    with pytest.raises(SystemExit) as stopped:
        cli("run", "--rate", "fast")
    assert stopped.value.code == 2


def test_every_command_and_option_has_help_text():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():  # type: ignore[union-attr]
        assert sub.description or subparsers._choices_actions, name
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest}"
    for choice in subparsers._choices_actions:  # type: ignore[union-attr]
        assert choice.help
