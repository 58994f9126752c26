"""Where the rows and the client secret go is one decision: one of --api-url and
--token-url aimed elsewhere while the other stays the region's is refused, as is --sandbox
with either (it starts an API of its own)."""

from __future__ import annotations

from pathlib import Path

from ..helpers import HEADER, SAMPLES, activity_rows, write_csv


def test_a_local_api_url_alone_does_not_send_the_secret_to_the_region(
    cli, make_sandbox, api_env, tmp_path: Path
) -> None:
    box = make_sandbox()
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(3)])
    report = tmp_path / "r.csv"
    result = cli("run", source, "--api-url", box.api_url, "--report", report, "--rate", "0")
    assert result.code == 2, result.output
    assert result.err.startswith("cg-import: error: --api-url names another host than the")
    assert "give --token-url too" in result.err
    assert box.sandbox.stats.token_requests == 0 and box.sandbox.stats.puts == 0
    alone = cli("run", source, "--token-url", box.token_url, "--report", report)
    assert alone.code == 2 and "give --api-url too" in alone.err, alone.output
    both = cli(
        "run", source, "--api-url", box.api_url, "--token-url", box.token_url,
        "--report", report, "--rate", "0", "--quiet",
    )  # fmt: skip
    assert both.code == 0, both.output
    assert box.sandbox.stats.puts == 3


def test_sandbox_with_an_api_url_is_refused(cli, api_env, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", [HEADER, *activity_rows(2)])
    result = cli("run", source, "--sandbox", "--api-url", "http://127.0.0.1:9/activities")
    assert result.code == 2, result.output
    assert "--sandbox starts an API of its own" in result.err
    assert "Sandbox API started" not in result.output


def test_the_region_s_own_host_however_written_is_the_region_s(cli, monkeypatch, tmp_path) -> None:
    from importer.cli import commands

    # no request is made: refused or not is decided before the credentials are read
    monkeypatch.delenv("CG_CLIENT_ID", raising=False)
    monkeypatch.delenv("CG_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("CG_CREDENTIALS_FILE", "/nonexistent/credentials.toml")
    for flag, url in [
        ("--api-url", "https://imports.api.eu.customergauge.com:443/activities"),
        ("--token-url", "https://AUTH.eu.customergauge.com./oauth2/token"),
    ]:
        result = cli("run", SAMPLES / "activities.csv", flag, url, "--report", tmp_path / "r.csv")
        assert "names another host" not in result.err, result.err
        assert "no API credentials" in result.err  # the next check, reached
    assert commands._host("https://a.example.:443/x") == commands._host("https://A.example/y")
