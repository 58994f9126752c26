"""Credentials: named when missing, read only from an owner-only file, sent only over https."""

from __future__ import annotations

import pytest

from ..helpers import (
    FAST,
    SAMPLES,
    api_args,
    assert_clean,
    fifo,
    one_line,
    run_bounded,
    source_file,
)


def test_missing_credentials_say_what_to_set(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("CG_CLIENT_ID", raising=False)
    monkeypatch.delenv("CG_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("CG_CREDENTIALS_FILE", str(tmp_path / "none.toml"))
    result = cli("run", SAMPLES / "activities.csv", "--report", tmp_path / "r.csv")
    assert result.code == 2
    assert "CG_CLIENT_ID and CG_CLIENT_SECRET" in one_line(result.err)


def test_credentials_file_must_be_owner_only(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("CG_CLIENT_ID", raising=False)
    monkeypatch.delenv("CG_CLIENT_SECRET", raising=False)
    creds = tmp_path / "credentials.toml"
    creds.write_text('client_id = "x"\nclient_secret = "y"\n')
    creds.chmod(0o644)
    monkeypatch.setenv("CG_CREDENTIALS_FILE", str(creds))
    result = cli("run", SAMPLES / "activities.csv", "--report", tmp_path / "r.csv")
    assert result.code == 2 and "chmod 600" in one_line(result.err)


@pytest.mark.usefixtures("api_env")
@pytest.mark.timeout(60)
def test_credentials_file_that_is_a_fifo_is_refused(sandbox, tmp_path):
    credentials = fifo(tmp_path / "credentials.toml")
    source = source_file(tmp_path, 2)
    env = {"CG_CLIENT_ID": "", "CG_CLIENT_SECRET": "", "CG_CREDENTIALS_FILE": str(credentials)}

    # a FIFO nobody writes to blocks a read for ever: a run still going after 30 s fails the
    # test as a hang (no bound on the seconds it took: a busy machine is no hang)
    result, _ = run_bounded(
        "run", source, "--report", tmp_path / "r.csv", *api_args(sandbox), *FAST,
        env=env, timeout=30,
    )  # fmt: skip
    assert result.code == 2, result.output
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0


def test_plain_http_to_a_remote_host_is_refused(cli, api_env, tmp_path):
    result = cli(
        "run",
        SAMPLES / "activities.csv",
        "--report",
        tmp_path / "r.csv",
        "--api-url",
        "http://api.example.com/activities",
    )
    assert result.code == 2 and "only https" in one_line(result.err)


@pytest.mark.usefixtures("api_env")
def test_wrong_credentials_exit_2_before_anything_is_sent(cli, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("CG_CLIENT_SECRET", "wrong")
    result = cli(
        "run", SAMPLES / "activities.csv", "--report", tmp_path / "r.csv", *api_args(sandbox)
    )
    assert result.code == 2
    assert result.err.count("\n") == 1 and "CG_CLIENT_SECRET" in result.err
    assert "wrong" not in result.err
    assert sandbox.sandbox.stats.puts == 0
