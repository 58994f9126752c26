"""Bad input: one clear line on stderr, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.cli import build_parser

from .helpers import HEADER, SAMPLES, activity_rows, api_args, read_report, write_csv


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _file(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


BAD_INPUTS = {
    "empty file": (lambda d: [_file(d / "empty.csv", b"")], "empty"),
    "binary file": (
        lambda d: [_file(d / "bin.csv", bytes(range(256)) * 20)],
        "binary",
    ),
    "missing required columns": (
        lambda d: [write_csv(d / "cols.csv", [["Name", "When"], ["a", "2024-01-01"]])],
        "required column(s) account, type, source, happened_at not found",
    ),
    "text file named .xlsx": (
        lambda d: [_file(d / "fake.xlsx", "a,b\n1,2\n")],
        "not an Excel workbook",
    ),
    "missing path": (lambda d: [d / "nowhere.csv"], "no such file"),
    "broken TOML mapping": (
        lambda d: [SAMPLES / "activities.csv", "--mapping", _mapping(d, "account = Kunde\n")],
        "not valid TOML",
    ),
    "mapping naming an absent header": (
        lambda d: [
            SAMPLES / "activities.csv",
            "--mapping",
            _mapping(d, '[columns]\naccount = "Kunde"\n'),
        ],
        "names 'Kunde', which is not a header",
    ),
    "unknown field in mapping": (
        lambda d: [
            SAMPLES / "activities.csv",
            "--mapping",
            _mapping(d, '[columns]\ncustomer = "Account"\n'),
        ],
        "unknown field(s) customer",
    ),
    "unknown sheet": (
        lambda d: [SAMPLES / "activities.xlsx", "--sheet", "Nope"],
        "has no sheet 'Nope'; its sheets are: 'Activities'",
    ),
    "xlsx named .csv": (
        lambda d: [_file(d / "book.csv", (SAMPLES / "activities.xlsx").read_bytes())],
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
        lambda d: [_file(d / "ragged.csv", "Account,Type,Source,Happened At\n" + "x," * 12 + "\n")],
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
    line = _one_line(result.err)
    assert expected in line
    assert sandbox.sandbox.stats.puts == 0


def test_missing_credentials_say_what_to_set(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("CG_CLIENT_ID", raising=False)
    monkeypatch.delenv("CG_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("CG_CREDENTIALS_FILE", str(tmp_path / "none.toml"))
    result = cli("run", SAMPLES / "activities.csv", "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "CG_CLIENT_ID and CG_CLIENT_SECRET" in _one_line(result.err)


def test_credentials_file_must_be_owner_only(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("CG_CLIENT_ID", raising=False)
    monkeypatch.delenv("CG_CLIENT_SECRET", raising=False)
    creds = tmp_path / "credentials.toml"
    creds.write_text('client_id = "x"\nclient_secret = "y"\n')
    creds.chmod(0o644)
    monkeypatch.setenv("CG_CREDENTIALS_FILE", str(creds))
    result = cli("run", SAMPLES / "activities.csv", "--report", tmp_path / "r.csv")
    assert result.code == 2 and "chmod 600" in _one_line(result.err)


def test_plain_http_to_a_remote_host_is_refused(cli, api_env, tmp_path):
    result = cli(
        "run",
        SAMPLES / "activities.csv",
        "--report",
        tmp_path / "r.csv",
        "--api-url",
        "http://api.example.com/activities",
    )
    assert result.code == 2 and "only https" in _one_line(result.err)


def test_bad_flag_is_one_line_and_exit_2(cli):
    with pytest.raises(SystemExit) as stopped:
        cli("run", "--rate", "fast")
    assert stopped.value.code == 2


def test_a_row_with_a_cell_too_many_is_invalid_not_shifted(cli, tmp_path):
    source = _file(
        tmp_path / "ragged.csv",
        "Account,Type,Source,Happened At\n"
        "Acme, Inc,Call,Excel,2024-01-01\n"
        "B,Call,Excel,2024-01-02,\n",
    )
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 1
    first, second = read_report(tmp_path / "r.csv")
    assert first["status"] == "invalid" and "more cells than the header row" in first["errors"]
    assert first["Account"] == "Acme"  # shown as read, flagged
    assert second["status"] == "valid"  # a trailing empty cell is harmless


def test_header_only_file_validates_with_zero_rows(cli, tmp_path):
    source = write_csv(tmp_path / "header.csv", [HEADER])
    result = cli("validate", source, "--report", tmp_path / "r.csv")
    assert result.code == 0, result.err
    assert read_report(tmp_path / "r.csv") == []
    assert "rows" in result.out


def test_invalid_date_format_in_mapping_is_exit_2(cli, tmp_path):
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    mapping = _mapping(tmp_path, 'date_format = "%d.%m.%Y %Q"\n')
    result = cli("validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv")
    assert result.code == 2 and "date_format" in _one_line(result.err)


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
