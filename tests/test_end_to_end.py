"""The whole path as an analyst uses it: the real CLI against the sandbox on 127.0.0.1."""

from __future__ import annotations

import json

import openpyxl
import pytest

from importer.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

from .helpers import (
    HEADER,
    PROFILES,
    SAMPLES,
    activity_rows,
    api_args,
    read_report,
    read_retry,
    read_rows,
    run_subprocess,
    write_csv,
)

pytestmark = pytest.mark.usefixtures("api_env")

SAMPLE_STATUSES = {
    18: ("invalid", "account: is required"),
    19: ("invalid", "happened_at: '06/10/2024' could be day-first or month-first"),
    21: ("invalid", "type: must be at most 100 characters"),
    23: ("invalid", "happened_at: 'yesterday' is not a date and time"),
    25: ("rejected", "contact: The selected contact is invalid."),
}


@pytest.mark.parametrize("sample", ["activities.csv", "activities.xlsx"])
def test_mixed_sample_every_row_gets_its_status(cli, sandbox, tmp_path, sample):
    report = tmp_path / "report.csv"
    result = cli("run", SAMPLES / sample, "--report", report, *api_args(sandbox), "--rate", "0")
    assert result.code == 1, result.err
    rows = read_report(report)
    assert [int(r["source_row"]) for r in rows] == list(range(2, 27))
    for row in rows:
        number = int(row["source_row"])
        expected, message = SAMPLE_STATUSES.get(number, ("imported", ""))
        assert row["status"] == expected, row
        assert message in row["errors"]
        if expected == "imported":
            assert row["activity_id"] and row["http_status"] == "200" and row["attempts"] == "1"
            assert sandbox.sandbox.activities[row["reference"]]["id"] == int(row["activity_id"])
    assert rows[23]["http_status"] == "422"  # the server's answer, kept
    # rows without a reference got a derived one, shown in the report
    assert rows[10]["reference"].startswith("auto-") and rows[10]["Reference"] == ""
    summary = json.loads((tmp_path / "report.csv.summary.json").read_text())
    assert summary["counts"] == {"imported": 20, "invalid": 4, "rejected": 1}
    assert summary["api_host"] == f"127.0.0.1:{sandbox.port}"
    retry = read_retry(report)  # the retry workbook
    assert retry[0] == [
        "Reference",
        "Account",
        "Contact",
        "Type",
        "Source",
        "Happened At",
        "Subject",
        "Agent",
        "Priority",
        "original_row",  # where each row was in this file, for a retry file's report
        "original_file",
    ]
    assert [r[0] for r in retry[1:]] == [
        "ACT-10901",
        "ACT-10902",
        "ACT-10903",
        "ACT-10904",
        "ACT-10905",
    ]
    assert "imported" in result.out and "Retry file" in result.out


def test_leading_zeros_and_excel_numbers_are_sent_as_text(cli, sandbox, tmp_path):
    result = cli(
        "run",
        SAMPLES / "activities.xlsx",
        "--report",
        tmp_path / "r.csv",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 1
    stored = sandbox.sandbox.activities
    assert stored["000123"]["reference"] == "000123"
    assert stored["5000"]["reference"] == "5000"  # an Excel number cell, not "5000.0"
    # additional information from the columns that are not API fields
    info = stored["000123"]["additional_information_object"]
    assert info == {"Subject": "Dashboard loads slowly", "Agent": "Maria Lopez", "Priority": "High"}


def test_excel_date_cells_are_sent_as_utc_text(cli, sandbox, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet.append(HEADER)
    import datetime as dt

    sheet.append(
        [
            "X-1",
            "Acme",
            "a@acme.example",
            "Call",
            "Excel",
            dt.datetime(2024, 7, 1, 9, 30),
            "summer, Berlin +2",
        ]
    )
    sheet.append(
        [
            "X-2",
            "Acme",
            "a@acme.example",
            "Call",
            "Excel",
            dt.datetime(2024, 1, 15, 9, 30),
            "winter, Berlin +1",
        ]
    )
    sheet.append(["X-3", "Acme", None, "Call", "Excel", dt.date(2024, 1, 16), 42.5])
    path = tmp_path / "dates.xlsx"
    book.save(path)
    result = cli(
        "run",
        path,
        "--timezone",
        "Europe/Berlin",
        "--report",
        tmp_path / "r.xlsx",
        *api_args(sandbox),
        "--rate",
        "0",
    )
    assert result.code == 0, result.err
    stored = sandbox.sandbox.activities
    assert stored["X-1"]["happened_at"] == "2024-07-01 07:30:00"
    assert stored["X-2"]["happened_at"] == "2024-01-15 08:30:00"
    assert stored["X-3"]["happened_at"] == "2024-01-15 23:00:00"
    assert "contact" not in stored["X-3"]  # a blank cell is a missing value
    assert stored["X-3"]["additional_information_object"] == {"Subject": "42.5"}
    report = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    lines = list(report.active.iter_rows(values_only=True))
    assert lines[0][:3] == ("source_row", "status", "reference")
    assert [line[1] for line in lines[1:]] == ["imported"] * 3


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


def test_server_side_422_is_rejected_with_the_servers_message(cli, sandbox, tmp_path):
    rows = [HEADER, *activity_rows(2)]
    rows[2][2] = "ghost@unknown.example"
    source = write_csv(tmp_path / "in.csv", rows)
    result = cli("run", source, "--report", tmp_path / "r.csv", *api_args(sandbox))
    assert result.code == 1
    lines = read_report(tmp_path / "r.csv")
    assert lines[1]["status"] == "rejected"
    assert lines[1]["http_status"] == "422"
    assert lines[1]["errors"] == "contact: The selected contact is invalid."
    assert lines[1]["attempts"] == "1"  # never retried


def test_expiring_and_revoked_tokens_are_renewed(cli, make_sandbox, tmp_path):
    box = make_sandbox(token_lifetime=2, revoke_every=25, latency=0.005)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(150)])
    result = cli(
        "run",
        source,
        "--report",
        tmp_path / "r.csv",
        *api_args(box),
        "--rate",
        "50",
        "--concurrency",
        "8",
    )
    assert result.code == 0, result.err
    stats = box.sandbox.stats
    assert stats.unauthorised > 0  # revoked tokens were refused, then recovered
    assert stats.token_requests >= 3  # renewed before expiry during the ~3 s run
    # one shared renewal per revocation, not one per worker
    assert stats.token_requests <= stats.puts // 25 + 6
    assert all(r["status"] == "imported" for r in read_report(tmp_path / "r.csv"))


def test_throttling_and_server_errors_are_retried(cli, make_sandbox, tmp_path):
    box = make_sandbox(rate_limit=20, fail_before=0.2, fail_after=0.1, seed=7)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(60)])
    result = cli(
        "run",
        source,
        "--report",
        tmp_path / "r.csv",
        *api_args(box),
        "--rate",
        "0",
        "--concurrency",
        "8",
        "--max-attempts",
        "10",
        "--retry-wait",
        "0.01",
    )
    assert result.code == 0, result.err
    stats = box.sandbox.stats
    assert stats.throttled > 0 and stats.failed_before > 0 and stats.failed_after > 0
    assert stats.duplicates == 0 and len(box.sandbox.activities) == 60
    lines = read_report(tmp_path / "r.csv")
    assert all(r["status"] == "imported" for r in lines)
    assert any(int(r["attempts"]) > 1 for r in lines)


def test_gives_up_after_max_attempts_as_failed(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli(
        "run",
        source,
        "--report",
        tmp_path / "r.csv",
        *api_args(box),
        "--max-attempts",
        "3",
        "--retry-wait",
        "0.01",
    )
    assert result.code == 1
    lines = read_report(tmp_path / "r.csv")
    assert {r["status"] for r in lines} == {"failed"}
    assert lines[0]["attempts"] == "3" and lines[0]["http_status"] == "503"
    assert "gave up after 3 attempts" in lines[0]["errors"]
    assert len(read_retry(tmp_path / "r.csv")) == 3


def test_formula_cells_are_sent_unchanged_but_neutralised_in_reports(cli, sandbox, tmp_path):
    formula = '=HYPERLINK("http://example.com","click")'
    rows = [HEADER, *activity_rows(2)]
    rows[1][6] = formula
    rows[2][6] = "-5 + @cmd"
    source = write_csv(tmp_path / "in.csv", rows)
    for name in ("r.csv", "r.xlsx"):
        result = cli("run", source, "--report", tmp_path / name, *api_args(sandbox))
        assert result.code == 0
    info = sandbox.sandbox.activities["R-000000"]["additional_information_object"]
    assert info["Subject"] == formula
    lines = read_report(tmp_path / "r.csv")
    assert lines[0]["Subject"] == "'" + formula
    assert lines[1]["Subject"] == "'-5 + @cmd"
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    cell = book.active["N2"]
    assert book.active["N1"].value == "Subject"
    assert cell.value == formula and cell.data_type == "s"  # text, never a formula


def test_retry_file_can_be_fixed_and_fed_back(cli, sandbox, tmp_path):
    rows = [HEADER, *activity_rows(3)]
    rows[2][1] = ""  # missing account
    rows[3][6] = "=1+1"
    rows[3][1] = "x" * 300  # too long
    source = write_csv(tmp_path / "in.csv", rows)
    first = ("--report", tmp_path / "first.csv", "--retry-format", "csv")
    assert cli("run", source, *first, *api_args(sandbox)).code == 1
    retry = read_rows(tmp_path / "first.retry.csv")
    assert len(retry) == 3
    retry[1][1] = "Fixed Account"
    retry[2][1] = "Another Account"
    fixed = write_csv(tmp_path / "fixed.csv", retry)
    result = cli("run", fixed, "--report", tmp_path / "second.csv", *api_args(sandbox))
    assert result.code == 0, result.out + result.err
    assert not (tmp_path / "second.retry.xlsx").exists()
    assert sandbox.sandbox.activities["R-000002"]["additional_information_object"] == {
        "Subject": "=1+1"  # the report's protective ' is not sent
    }
    assert not (tmp_path / "second.retry.csv").exists()


def test_secret_and_tokens_never_appear_in_output_or_files(make_sandbox, tmp_path, monkeypatch):
    secret = "s3cr3t-Very-Private-Value"
    box = make_sandbox(client_secret=secret, token_lifetime=1, revoke_every=7)
    monkeypatch.setenv("CG_CLIENT_SECRET", secret)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(40)])
    rows = read_rows(source)
    rows[3][2] = "ghost@unknown.example"
    write_csv(source, rows)
    result = run_subprocess(
        "run",
        source,
        "--report",
        tmp_path / "r.csv",
        *api_args(box),
        "--rate",
        "40",
        env={"CG_CLIENT_SECRET": secret},
    )
    assert result.code == 1, result.err
    written = "".join(
        p.read_bytes().decode("utf-8", "replace") for p in tmp_path.iterdir() if p.is_file()
    )
    tokens = box.sandbox.issued_tokens
    assert len(tokens) >= 2
    for text in (result.out, result.err, written):
        assert secret not in text
        assert not any(token in text for token in tokens)


def test_wrong_credentials_exit_2_before_anything_is_sent(cli, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("CG_CLIENT_SECRET", "wrong")
    result = cli(
        "run", SAMPLES / "activities.csv", "--report", tmp_path / "r.csv", *api_args(sandbox)
    )
    assert result.code == 2
    assert result.err.count("\n") == 1 and "CG_CLIENT_SECRET" in result.err
    assert "wrong" not in result.err
    assert sandbox.sandbox.stats.puts == 0


def test_validate_sends_nothing_and_marks_rows_valid(cli, sandbox, tmp_path):
    result = cli("validate", SAMPLES / "activities.csv", "--report", tmp_path / "v.csv")
    assert result.code == 1
    statuses = [r["status"] for r in read_report(tmp_path / "v.csv")]
    assert statuses.count("valid") == 21 and statuses.count("invalid") == 4
    assert sandbox.sandbox.stats.puts == 0
    good = write_csv(tmp_path / "good.csv", [HEADER, *activity_rows(3)])
    assert cli("validate", good, "--report", tmp_path / "g.csv").code == 0


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


def test_run_sandbox_and_python_m_work_as_the_readme_says(tmp_path):
    env = {"CG_CLIENT_ID": "", "CG_CLIENT_SECRET": ""}
    result = run_subprocess("run", SAMPLES / "activities.xlsx", "--sandbox", env=env, cwd=tmp_path)
    assert result.code == 1, result.err  # the sample has deliberately bad rows
    assert "imported" in result.out and "Traceback" not in result.err
    reports = list((tmp_path / "reports").glob("activities-*.xlsx"))  # an Excel input's default
    assert len([p for p in reports if ".retry" not in p.name]) == 1
    assert DEMO_CLIENT_SECRET not in result.out + result.err
    assert DEMO_CLIENT_ID  # demo values are public; real ones never printed


def test_shared_support_export_validates(cli, tmp_path):
    from .helpers import SHARED_DATA

    source = SHARED_DATA / "customer_support_tickets.csv"
    if not source.exists():
        pytest.skip("shared data not present")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\nreference = "ticket_id"\naccount = "country"\nhappened_at = "created_date"\n'
        '[constants]\ntype = "Support Ticket"\nsource = "Helpdesk"\n'
        '[additional_information]\nchannel = "channel"\npriority = "priority"\nagent = "agent"\n'
        'csat = "csat_score"\nresolution_hours = "resolution_hours"\n',
        encoding="utf-8",
    )
    report = tmp_path / "r.csv"
    result = cli("validate", source, "--mapping", mapping, "--report", report)
    assert result.code == 0, result.err
    lines = read_report(report)
    assert len(lines) == 5000 and {r["status"] for r in lines} == {"valid"}
    # 16-digit floats and True/False stay exactly as the export wrote them
    assert lines[0]["resolution_hours"] == "17.25326246777651"


def test_credentials_revoked_mid_run_keep_the_report(cli, make_sandbox, tmp_path):
    import threading

    box = make_sandbox(token_lifetime=2)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(200)])
    rotate = threading.Timer(0.5, lambda: setattr(box.sandbox.config, "client_secret", "new"))
    rotate.start()
    try:
        result = cli("run", source, "--report", tmp_path / "r.csv", *api_args(box), "--rate", "50")
    finally:
        rotate.cancel()
    assert result.code == 2
    assert "refused the client credentials" in result.err and "Traceback" not in result.err
    lines = read_report(tmp_path / "r.csv")
    assert len(lines) == 200
    statuses = {line["status"] for line in lines}
    assert statuses == {"imported", "skipped"}
    for line in lines:
        if line["status"] == "skipped":
            assert "--resume" in line["errors"]
            assert line["reference"] == line["Reference"]  # shown even though never sent


def test_resume_without_report_finds_the_latest_run(cli, sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(5)])
    assert cli("run", source, *api_args(sandbox)).code == 0
    (report,) = [p for p in (tmp_path / "reports").glob("in-*.csv") if ".retry" not in p.name]
    again = cli("run", source, "--resume", *api_args(sandbox))
    assert again.code == 0 and str(report.name) in again.out
    assert sandbox.sandbox.stats.puts == 5  # everything was already imported


def test_sandbox_command_serves_the_api(tmp_path):
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = proc.stdout.readline() + proc.stdout.readline()  # type: ignore[union-attr]
        assert "demo credentials" in banner
        body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET,
            }
        ).encode()
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/oauth2/token", body) as r:
                    token = json.load(r)
                break
            except OSError:
                time.sleep(0.05)
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
