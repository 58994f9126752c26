"""Access tokens: renewed without a storm; a token endpoint that misbehaves ends the run cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from importer.sandbox import DEMO_CLIENT_SECRET

from ..helpers import (
    FAST,
    HEADER,
    activity_rows,
    api_args,
    assert_clean,
    assert_every_row,
    read_report,
    run_file,
    source_file,
    statuses,
    write_csv,
    written_bytes,
)
from ..servers import SECRET, TOKEN, api_app, bad_gateway, healthy_put, imported, token_endpoint


@pytest.mark.usefixtures("api_env")
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


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("expires_in", [-5, "abc", None], ids=["negative", "text", "null"])
def test_odd_expires_in_works_without_a_token_storm(cli, serve_app, tmp_path, expires_in):
    api = serve_app(api_app(healthy_put(), token_endpoint(expires_in=expires_in)))
    source = source_file(tmp_path, 20)
    report = tmp_path / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), *FAST)
    assert result.code == 0, result.output
    assert_clean(result)
    lines = assert_every_row(report, 20)
    assert all(line["status"] == "imported" for line in lines), lines
    assert len(api.token_requests) <= 3, f"{len(api.token_requests)} token requests"


@pytest.mark.usefixtures("api_env")
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


@pytest.mark.timeout(90)
def test_credentials_refused_after_a_fresh_token_stop_the_run_with_few_token_requests(
    tmp_path: Path,
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"message": "Unauthenticated."}, status=401)

    done, report, server = run_file(
        tmp_path, refuse, activity_rows(40), "--retry-wait", "0.01", "--quiet"
    )
    token_requests = len(server.token_requests)
    assert done.code == 2, done.err
    assert "credentials" in done.err and "refused" in done.err
    assert "--resume" not in done.err  # nothing was imported: nothing to finish
    assert token_requests <= 3, token_requests
    assert DEMO_CLIENT_SECRET not in done.err + done.out
    assert TOKEN not in done.err + done.out
    assert sum(statuses(report).values()) == 40


@pytest.mark.timeout(90)
def test_credentials_refused_after_rows_were_imported_exit_2_with_the_resume_line(
    tmp_path: Path,
) -> None:
    seen = {"puts": 0}

    async def revoke_after_ten(request: web.Request) -> web.Response:
        seen["puts"] += 1
        if seen["puts"] <= 10:
            return imported(await request.json(), seen["puts"])
        return web.json_response({"message": "Unauthenticated."}, status=401)

    done, report, _ = run_file(
        tmp_path, revoke_after_ten, activity_rows(60), "--concurrency", "1", "--quiet"
    )
    assert done.code == 2, done.err  # refused credentials need a person
    assert "refused" in done.err and "--resume" in done.err
    counts = statuses(report)
    assert counts["imported"] == 10
    assert sum(counts.values()) == 60


@pytest.mark.usefixtures("api_env")
@pytest.mark.parametrize("status", [307, 308])
def test_token_redirect_is_refused_and_secret_never_leaves(
    cli, serve_app, tmp_path, monkeypatch, status
):
    monkeypatch.setenv("CG_CLIENT_SECRET", SECRET)
    thief = serve_app(web.Application())
    steal = f"{thief.url}/steal"

    async def token(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, headers={"Location": steal})

    api = serve_app(api_app(healthy_put(), token))
    source = source_file(tmp_path, 2)
    out = tmp_path / "out"

    result = cli("run", source, "--report", out / "r.csv", *api.args(), *FAST)
    assert result.code == 2, result.output
    assert "redirect" in result.err.lower(), result.err
    assert steal in result.err, result.err
    assert_clean(result)
    assert thief.requests == [], "the token request (and the secret) went to the redirect"
    assert api.puts == []
    assert SECRET not in result.output
    for path, data in written_bytes(tmp_path).items():
        assert SECRET.encode() not in data, path


@pytest.mark.usefixtures("api_env")
def test_non_utf8_token_error_is_one_clean_line(cli, serve_app, tmp_path):
    api = serve_app(api_app(healthy_put(), bad_gateway()))
    source = source_file(tmp_path, 2)

    result = cli("run", source, "--report", tmp_path / "r.csv", *api.args(), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert api.token_requests and api.puts == []
