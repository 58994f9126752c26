"""Answers no API should give: a 2xx without data.id, a redirect, a body that is not UTF-8."""

from __future__ import annotations

from collections import Counter

import pytest
from aiohttp import web

from ..helpers import FAST, assert_clean, assert_every_row, read_retry, source_file
from ..servers import api_app, bad_gateway, healthy_put

pytestmark = pytest.mark.usefixtures("api_env")


NO_PROOF = {
    "captive portal html": (200, b"<html>captive portal</html>", "text/html"),
    "empty object": (200, b"{}", "application/json"),
    "empty body": (200, b"", "application/json"),
    "data without id": (200, b'{"data": {}}', "application/json"),
    "data with null id": (200, b'{"data": {"id": null}}', "application/json"),
    "204 no content": (204, b"", "application/json"),
}


@pytest.mark.parametrize(("status", "body", "content_type"), NO_PROOF.values(), ids=NO_PROOF)
def test_2xx_without_data_id_is_failed_and_resume_sends_again(
    cli, serve_app, tmp_path, status, body, content_type
):
    healthy = {"on": False}
    answer = healthy_put()

    async def put(request: web.Request) -> web.StreamResponse:
        if healthy["on"]:
            return await answer(request)
        await request.read()
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 3)
    report = tmp_path / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), *FAST)
    assert result.code == 1, result.output
    assert_clean(result)
    lines = assert_every_row(report, 3)
    for line in lines:
        assert line["status"] == "failed", line
        assert "data.id" in line["errors"], line
        assert not line["activity_id"], line
    assert [row[0] for row in read_retry(report)[1:]] == ["R-000000", "R-000001", "R-000002"]
    first_puts = len(api.puts)

    healthy["on"] = True
    again = cli("run", source, "--report", report, *api.args(), "--resume", *FAST)
    assert again.code == 0, again.output
    lines = assert_every_row(report, 3)
    assert all(line["status"] == "imported" and line["activity_id"] for line in lines), lines
    resent = sorted(seen.json()["reference"] for seen in api.puts[first_puts:])
    assert resent == ["R-000000", "R-000001", "R-000002"]


@pytest.mark.parametrize("status", [302, 307, 308])
def test_put_redirect_is_a_failure_and_the_other_host_gets_nothing(
    cli, serve_app, tmp_path, status
):
    thief = serve_app(web.Application())

    async def put(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, headers={"Location": f"{thief.url}/activities"})

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 3)
    report = tmp_path / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), *FAST)
    assert result.code == 1, result.output
    assert_clean(result)
    for line in assert_every_row(report, 3):
        assert line["status"] == "failed", line
        assert "redirect" in line["errors"].lower(), line
        assert thief.url in line["errors"], line
    assert thief.requests == [], "the activity (and the bearer token) went to the redirect"


def test_non_utf8_error_body_is_retried_and_reported(cli, serve_app, tmp_path):
    api = serve_app(api_app(bad_gateway()))
    source = source_file(tmp_path, 3)
    report = tmp_path / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), "--max-attempts", "3", *FAST)
    assert result.code == 1, result.output
    assert_clean(result)
    for line in assert_every_row(report, 3):
        assert line["status"] == "failed", line
        assert "502" in line["errors"], line
    tries = Counter(seen.json()["reference"] for seen in api.puts)
    assert set(tries) == {"R-000000", "R-000001", "R-000002"}
    assert all(n > 1 for n in tries.values()), f"not retried: {tries}"
