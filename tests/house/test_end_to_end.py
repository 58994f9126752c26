"""The whole path as the README shows it: the samples, python -m importer, the sandbox."""

from __future__ import annotations

import json

import pytest

from importer.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

from ..helpers import SAMPLES, api_args, closed_port, read_report, read_retry, run_subprocess

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


def test_run_sandbox_and_python_m_work_as_the_readme_says(tmp_path):
    env = {"CG_CLIENT_ID": "", "CG_CLIENT_SECRET": ""}
    result = run_subprocess("run", SAMPLES / "activities.xlsx", "--sandbox", env=env, cwd=tmp_path)
    assert result.code == 1, result.err  # the sample has deliberately bad rows
    assert "imported" in result.out and "Traceback" not in result.err
    reports = list((tmp_path / "reports").glob("activities-*.xlsx"))  # an Excel input's default
    assert len([p for p in reports if ".retry" not in p.name]) == 1
    assert DEMO_CLIENT_SECRET not in result.out + result.err
    assert DEMO_CLIENT_ID  # demo values are public; real ones never printed


def test_sandbox_command_serves_the_api(tmp_path):
    import json
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request

    port = closed_port()  # free: the sandbox command is to listen there
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


def test_shared_support_export_validates(cli, tmp_path):
    from ..helpers import SHARED_DATA

    source = SHARED_DATA / "customer_support_tickets.csv"
    if not source.exists():
        pytest.skip(f"shared data not present: {source} (the real exports beside the project)")
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
