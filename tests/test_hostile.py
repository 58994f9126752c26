"""Hostile worlds, through the real CLI: servers that lie, redirect, echo secrets, throttle
for a day or never answer; report paths that would overwrite the input; a resume with other
options; FIFOs where files should be; a full disk; two runs on one report at once.

Each misbehaving API is a small aiohttp app served on 127.0.0.1 in a background thread
(``serve``), which records every request it receives, so the tests can prove what did and
did not reach a server. What an ops analyst sees is what is checked: the exit code, one
clean line on stderr, the report's rows, and the bytes written to disk.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote, quote_plus

import openpyxl
import pytest
from aiohttp import web

from importer.inbox import default_reports
from importer.sandbox import DEMO_CLIENT_ID, RunningSandbox

from .helpers import (
    HEADER,
    CliResult,
    activity_rows,
    api_args,
    read_report,
    read_retry,
    run_subprocess,
    start_run,
    wait_until,
    write_csv,
)
from .servers import TOKEN, Handler, Served, api_app, imported, serve, token_endpoint

pytestmark = pytest.mark.usefixtures("api_env")

SECRET = "hostile-secret-N3bR6tY1uJ5c"
FAST = ["--rate", "0", "--retry-wait", "0", "--quiet"]


@pytest.fixture
def serve_app() -> Iterator[Callable[[web.Application], Served]]:
    """Serve aiohttp apps for the duration of a test."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve(app))


def healthy_put() -> Handler:
    """PUT /activities as the real API answers it: 200 with ``data.id``."""
    ids = iter(range(5000, 10**9))

    async def put(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthenticated."}, status=401)
        return imported(await request.json(), next(ids))

    return put


# --- small helpers -----------------------------------------------------------------------------


def source_file(tmp_path: Path, rows: int, name: str = "in.csv") -> Path:
    return write_csv(tmp_path / name, [HEADER, *activity_rows(rows)])


def statuses(report: Path) -> Counter[str]:
    return Counter(line["status"] for line in read_report(report))


def assert_every_row(report: Path, rows: int) -> list[dict[str, str]]:
    """The report has one line per input row, in input order."""
    lines = read_report(report)
    assert [int(line["source_row"]) for line in lines] == list(range(2, rows + 2))
    return lines


def assert_clean(result: CliResult) -> None:
    """No traceback and no 'internal error' (a bug), whatever the exit code."""
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output


def written_bytes(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` (report, retry, summary, journal and its -wal/-shm)."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def run_bounded(
    *argv: str | Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[CliResult, float]:
    """``python -m importer …`` that must end within ``timeout``: a hang fails the test."""
    started = time.monotonic()
    try:
        result = run_subprocess(*argv, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"cg-import {argv[0]} still running after {timeout:.0f} s: it hangs")
    return result, time.monotonic() - started


# --- 1. a report path that is the input is refused --------------------------------------------

CLASHES = [
    "same path",
    "same file, other spelling",
    "symlink",
    "hard link",
    "retry file",
    "link where the report is written first",
]


def clashing_paths(case: str, tmp_path: Path) -> tuple[Path, Path]:
    """(input, report) where writing the report or its retry file would overwrite the input."""
    name = "r.retry.csv" if case == "retry file" else "x.csv"
    source = source_file(tmp_path, 3, name)
    if case == "same path":
        return source, source
    if case == "same file, other spelling":
        (tmp_path / "sub").mkdir()
        return source, tmp_path / "sub" / ".." / "x.csv"
    if case == "symlink":
        link = tmp_path / "link.csv"
        link.symlink_to(source)
        return source, link
    if case == "hard link":
        hard = tmp_path / "hard.csv"
        os.link(source, hard)
        return source, hard
    if case == "link where the report is written first":  # <report>.partial
        (tmp_path / "p.csv.partial").symlink_to(source)
        return source, tmp_path / "p.csv"
    return source, tmp_path / "r.csv"  # its retry file would be r.retry.csv: the input


@pytest.mark.parametrize("case", CLASHES)
def test_validate_refuses_a_report_that_would_overwrite_the_input(cli, tmp_path, case):
    source, report = clashing_paths(case, tmp_path)
    before = source.read_bytes()
    result = cli("validate", source, "--report", report)
    assert result.code == 2, result.output
    assert "input" in result.err.lower(), result.err
    assert_clean(result)
    assert source.read_bytes() == before


@pytest.mark.parametrize("case", CLASHES)
def test_run_refuses_a_report_that_would_overwrite_the_input(cli, sandbox, tmp_path, case):
    source, report = clashing_paths(case, tmp_path)
    before = source.read_bytes()
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert result.code == 2, result.output
    assert "input" in result.err.lower(), result.err
    assert_clean(result)
    assert source.read_bytes() == before
    assert sandbox.sandbox.stats.puts == 0


# --- 3. --resume pins what shapes a payload -----------------------------------------------------


def fail_first_run(cli, box: RunningSandbox, source: Path, report: Path, *extra: str) -> None:
    """A run whose every PUT fails: every row ends ``failed``, to be resumed."""
    result = cli(
        "run", source, "--report", report, *api_args(box), "--max-attempts", "1", *FAST, *extra
    )
    assert result.code == 1, result.output
    assert set(statuses(report)) == {"failed"}


def test_resume_refuses_another_timezone(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = source_file(tmp_path, 4)
    report = tmp_path / "r.csv"
    fail_first_run(cli, box, source, report)
    puts = box.sandbox.stats.puts
    report_before = report.read_bytes()

    refused = cli(
        "run", source, "--report", report, *api_args(box), "--resume",
        "--timezone", "Europe/Berlin", *FAST,
    )  # fmt: skip
    assert refused.code == 2, refused.output
    assert "timezone" in refused.err.lower(), refused.err
    assert "UTC" in refused.err and "Europe/Berlin" in refused.err, refused.err
    assert_clean(refused)
    assert box.sandbox.stats.puts == puts, "the refused resume sent rows"
    assert report.read_bytes() == report_before

    box.sandbox.config.fail_before = 0.0
    again = cli("run", source, "--report", report, *api_args(box), "--resume", *FAST)
    assert again.code == 0, again.output
    assert statuses(report) == {"imported": 4}
    # still read as UTC, as in the first run
    assert box.sandbox.activities["R-000000"]["happened_at"] == "2024-03-01 00:00:00"


def test_resume_refuses_an_edited_mapping(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = source_file(tmp_path, 4)
    report = tmp_path / "r.csv"
    mapping = tmp_path / "m.toml"
    original = '[additional_information]\nsubject = "Subject"\n'
    mapping.write_text(original, encoding="utf-8")
    fail_first_run(cli, box, source, report, "--mapping", str(mapping))
    puts = box.sandbox.stats.puts

    mapping.write_text('[additional_information]\ntopic = "Subject"\n', encoding="utf-8")
    refused = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--mapping", mapping, *FAST
    )
    assert refused.code == 2, refused.output
    assert "mapping" in refused.err.lower(), refused.err
    assert_clean(refused)
    assert box.sandbox.stats.puts == puts, "the refused resume sent rows"

    mapping.write_text(original, encoding="utf-8")
    box.sandbox.config.fail_before = 0.0
    again = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--mapping", mapping, *FAST
    )
    assert again.code == 0, again.output
    assert statuses(report) == {"imported": 4}
    info = box.sandbox.activities["R-000001"]["additional_information_object"]
    assert info == {"subject": "Subject 1"}


def two_sheet_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    north = book.active
    north.title = "North"
    south = book.create_sheet("South")
    for sheet, prefix in ((north, "N"), (south, "S")):
        sheet.append(HEADER)
        for row in activity_rows(3, prefix=prefix):
            sheet.append(row)
    book.save(path)
    return path


def test_resume_refuses_another_sheet(cli, make_sandbox, tmp_path):
    box = make_sandbox(fail_before=1.0)
    source = two_sheet_workbook(tmp_path / "book.xlsx")
    report = tmp_path / "r.csv"
    fail_first_run(cli, box, source, report, "--sheet", "North")
    puts = box.sandbox.stats.puts

    refused = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--sheet", "South", *FAST
    )
    assert refused.code == 2, refused.output
    assert "sheet" in refused.err.lower(), refused.err
    assert_clean(refused)
    assert box.sandbox.stats.puts == puts, "the refused resume sent rows"

    box.sandbox.config.fail_before = 0.0
    again = cli(
        "run", source, "--report", report, *api_args(box), "--resume", "--sheet", "North", *FAST
    )
    assert again.code == 0, again.output
    assert statuses(report) == {"imported": 3}
    assert set(box.sandbox.activities) == {"N-000000", "N-000001", "N-000002"}


# --- 4. a 2xx without data.id is no proof of import ---------------------------------------------

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


# --- 11. redirects are never followed ----------------------------------------------------------


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


# --- 12. no secret or token is ever stored or printed -----------------------------------------


def test_echoed_token_and_secret_are_never_printed_or_stored(cli, serve_app, tmp_path, monkeypatch):
    monkeypatch.setenv("CG_CLIENT_SECRET", SECRET)

    async def put(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        row = int((await request.json())["reference"][-1])
        if row in (0, 1):
            return web.json_response(
                {
                    "message": f"bad token {token}",
                    "errors": {"contact": [f"{token} is wrong"], "account": [f"not {SECRET}"]},
                },
                status=422,
            )
        if row == 2:
            return web.json_response(
                {"message": f"upstream refused {token} ({SECRET})"}, status=500
            )
        return web.Response(
            status=500, text=f"Authorization: Bearer {token}\nclient_secret={SECRET}\n"
        )

    api = serve_app(api_app(put, token_endpoint(SECRET)))
    source = source_file(tmp_path, 4)
    out = tmp_path / "out"
    report = out / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), "--max-attempts", "2", *FAST)
    assert result.code == 1, result.output
    assert_clean(result)
    lines = assert_every_row(report, 4)
    # the echoing answers really came back, so the checks below prove something
    assert [line["status"] for line in lines] == ["rejected", "rejected", "failed", "failed"]
    assert all("contact" in line["errors"] for line in lines[:2]), lines
    assert all(line["http_status"] == "500" for line in lines[2:]), lines
    assert api.puts and all(s.headers["authorization"] == f"Bearer {TOKEN}" for s in api.puts)

    files = written_bytes(out)
    assert any(path.name.endswith(".journal.sqlite") for path in files), list(files)
    assert any(path.name.endswith(".summary.json") for path in files), list(files)
    for secret in (TOKEN, SECRET):
        assert secret not in result.out, "printed on stdout"
        assert secret not in result.err, "printed on stderr"
        for path, data in files.items():
            assert secret.encode() not in data, f"stored in {path.name}"


def test_token_refusal_echoing_the_secret_is_not_printed(cli, serve_app, tmp_path, monkeypatch):
    monkeypatch.setenv("CG_CLIENT_SECRET", SECRET)

    async def token(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(
            {"error": SECRET, "error_description": f"client_secret {SECRET} is wrong"}, status=400
        )

    api = serve_app(api_app(healthy_put(), token))
    source = source_file(tmp_path, 2)
    out = tmp_path / "out"

    result = cli("run", source, "--report", out / "r.csv", *api.args(), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert api.token_requests and api.puts == []
    assert SECRET not in result.output
    for path, data in written_bytes(tmp_path).items():
        if path != source:
            assert SECRET.encode() not in data, f"stored in {path.name}"


# --- 12b. ... nor in any form a server may write it: escaped, URL-encoded, base64 -----------

# a token and a secret with characters that every encoding writes differently
ECHO_TOKEN = "hostile/token+Q7vX2/mK9pL4wZ8"
ECHO_SECRET = "hostile-secret/N3b+R6tY1 uJ5c"
URL_SECRET = "s3cr/t+ k&é-N3bR6tY1uJ5c"  # what a form body URL-encodes in every way


def php_escaped(text: str) -> str:
    """JSON as PHP writes it: ``/`` escaped as ``\\/``."""
    return text.replace("/", "\\/")


def unicode_escaped(text: str) -> str:
    """Every character as ``\\u00XX``: valid JSON that shares no character with ``text``."""
    return "".join(f"\\u{ord(char):04x}" for char in text)


def lower_hex(encoded: str) -> str:
    """URL-encoding with lower-case hex digits (``%2f``), as some servers write it."""
    return re.sub(r"%[0-9A-F]{2}", lambda hexes: hexes[0].lower(), encoded)


def base64_of(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: how each hostile server writes (token, secret) into its answers
ECHOES: dict[str, Callable[[str, str], list[str]]] = {
    "json \\/": lambda token, secret: [php_escaped(token), php_escaped(secret)],
    "json \\u00XX": lambda token, secret: [unicode_escaped(token), unicode_escaped(secret)],
    "url-encoded": lambda token, secret: [quote(token, safe=""), lower_hex(quote_plus(secret))],
    # an upstream's JSON error quoted as a string in the API's own JSON: escaped twice
    "json in json": lambda token, secret: [
        json.dumps(php_escaped(token))[1:-1],
        json.dumps(unicode_escaped(secret))[1:-1],
    ],
    "base64": lambda token, secret: [base64_of(token), base64_of(f"{DEMO_CLIENT_ID}:{secret}")],
    # an HTML error page: named and numeric character references
    "html": lambda token, secret: [
        "".join(f"&#x{ord(char):X};" if char == "/" else char for char in token),
        html.escape(secret).replace("/", "&#47;").replace("+", "&#43;"),
    ],
    # escapes whose own pieces are escaped (a backslash as \u005c, the hex digits of %2F
    # as \u0032\u0046): only decoding the JSON shows them, so they go in JSON only
    "escaped escapes": lambda token, secret: [
        unicode_escaped(quote(token, safe="")),
        "".join(f"\\u005cu{ord(char):04x}" for char in secret),
    ],
}
#: the echoes that only a JSON decoder reads: outside JSON the server writes them so
OUTSIDE_JSON = {"escaped escapes": "json \\/"}


def known_forms(echo: str) -> list[str]:
    """The token and the secret, plain and in every encoding these tests write them."""
    forms = [ECHO_TOKEN, ECHO_SECRET, *ECHOES[echo](ECHO_TOKEN, ECHO_SECRET)]
    for write in ECHOES.values():
        forms += write(ECHO_TOKEN, ECHO_SECRET)  # a form half decoded is no better
    return forms


def everything_written(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder``, and each part of a workbook (its XML, the
    comments): what a secret would have to be absent from."""
    found: dict[str, bytes] = {}
    for path, data in written_bytes(folder).items():
        found[path.name] = data
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                for part in book.namelist():
                    found[f"{path.name}:{part}"] = book.read(part)
    return found


def assert_nowhere(forms: list[str], result: CliResult, folder: Path) -> dict[str, bytes]:
    """None of ``forms`` on screen or in any file under ``folder``; returns the files."""
    files = everything_written(folder)
    for form in forms:
        assert form not in result.out, f"{form!r} printed on stdout"
        assert form not in result.err, f"{form!r} printed on stderr"
        for name, data in files.items():
            assert form.encode() not in data, f"{form!r} stored in {name}"
    return files


def echoing_put(echo: str) -> Handler:
    """PUT /activities answering each row with the bearer token it got and the client
    secret, written as ``ECHOES[echo]`` writes them: in an error body (row 0: 422, row 1:
    500), a data.id (row 2), a 200 page without data.id (row 3) and a redirect's Location
    (row 4)."""

    async def put(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        row = int((await request.json())["reference"][-1])
        write = ECHOES[OUTSIDE_JSON.get(echo, echo) if row >= 3 else echo]
        said, secret = write(token, ECHO_SECRET)
        if row == 0:
            body = (
                f'{{"message": "bad token {said}", "errors": {{"contact": ["{said} is wrong"],'
                f' "account": ["not {secret}"], "{said}": ["a field named so"]}}}}'
            )
            return web.Response(status=422, text=body, content_type="application/json")
        if row == 1:
            body = f'{{"message": "upstream refused {said} ({secret})"}}'
            return web.Response(status=500, text=body, content_type="application/json")
        if row == 2:
            body = f'{{"data": {{"id": "{said}"}}}}'
            return web.Response(status=200, text=body, content_type="application/json")
        if row == 3:
            return web.Response(status=200, text=f"<p>welcome {said} {secret}</p>")
        return web.Response(
            status=302, headers={"Location": f"https://elsewhere.example/?t={said}&s={secret}"}
        )

    return put


@pytest.mark.parametrize("retry_format", ["csv", "xlsx"])
@pytest.mark.parametrize("echo", list(ECHOES))
def test_token_and_secret_echoed_in_any_encoding_are_never_printed_or_stored(
    cli, serve_app, tmp_path, monkeypatch, echo, retry_format
):
    monkeypatch.setenv("CG_CLIENT_SECRET", ECHO_SECRET)
    api = serve_app(
        api_app(echoing_put(echo), token_endpoint(ECHO_SECRET, access_token=ECHO_TOKEN))
    )
    source = source_file(tmp_path, 5)
    out = tmp_path / "out"
    report = out / "r.csv"

    result = cli(
        "run", source, "--report", report, *api.args(), "--max-attempts", "2",
        "--retry-format", retry_format, *FAST,
    )  # fmt: skip
    assert result.code == 1, result.output
    assert_clean(result)
    lines = assert_every_row(report, 5)
    # the echoing answers really came back, so the checks below prove something
    assert [line["status"] for line in lines] == [
        "rejected", "failed", "imported", "failed", "failed"
    ]  # fmt: skip
    assert "contact" in lines[0]["errors"] and "elsewhere.example" in lines[4]["errors"], lines
    assert lines[2]["activity_id"], lines
    assert {seen.headers["authorization"] for seen in api.puts} == {f"Bearer {ECHO_TOKEN}"}

    files = assert_nowhere(known_forms(echo), result, out)
    kinds = (".journal.sqlite", ".summary.json", f".retry.{retry_format}")
    assert all(any(name.endswith(kind) for name in files) for kind in kinds), list(files)
    if retry_format == "xlsx":
        assert any("comments" in name for name in files), list(files)


@pytest.mark.parametrize("quoting", ["upper", "lower", "twice"])
def test_token_redirect_carrying_the_url_encoded_secret_does_not_print_it(
    cli, serve_app, tmp_path, monkeypatch, quoting
):
    monkeypatch.setenv("CG_CLIENT_SECRET", URL_SECRET)
    encoded = {
        "upper": quote_plus(URL_SECRET),
        "lower": lower_hex(quote_plus(URL_SECRET)),
        "twice": quote(quote_plus(URL_SECRET)),  # %252F: shows only once decoded
    }[quoting]
    form = f"grant_type=client_credentials&client_id={DEMO_CLIENT_ID}&client_secret={encoded}"

    async def token(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=302, headers={"Location": f"https://elsewhere.example/?{form}"})

    api = serve_app(api_app(healthy_put(), token))
    source = source_file(tmp_path, 2)

    result = cli("run", source, "--report", tmp_path / "out" / "r.csv", *api.args(), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert "redirect" in result.err and "elsewhere.example" in result.err, result.err
    assert api.puts == []
    once = [quote_plus(URL_SECRET), lower_hex(quote_plus(URL_SECRET)), quote(URL_SECRET, safe="")]
    assert_nowhere([URL_SECRET, encoded, *once], result, tmp_path / "out")


def test_inbox_keeps_echoed_secrets_out_of_its_log_notice_and_reports(
    cli, serve_app, tmp_path, monkeypatch
):
    monkeypatch.setenv("CG_CLIENT_SECRET", ECHO_SECRET)
    echo = "json in json"
    api = serve_app(
        api_app(echoing_put(echo), token_endpoint(ECHO_SECRET, access_token=ECHO_TOKEN))
    )
    inbox = tmp_path / "in"
    inbox.mkdir()
    source_file(inbox, 5, "drop.csv")
    log = tmp_path / "logs" / "inbox.jsonl"
    notices: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        notices.append(await request.read())
        return web.json_response({})

    notified = web.Application()
    notified.router.add_post("/hook", hook)
    hook_url = serve_app(notified).url.replace("http://", "json://") + "/hook"

    result = cli(
        "inbox", inbox, *api.args(), "--settle", "0", "--max-attempts", "2", "--log-file", log,
        "--notify", hook_url, "--rate", "0", "--retry-wait", "0",
    )  # fmt: skip
    assert result.code == 1, result.output
    assert_clean(result)
    reports = default_reports(inbox)  # beside the drop folder, never inside it
    (report,) = reports.glob("drop-*Z.csv")
    assert [line["status"] for line in read_report(report)] == [
        "rejected", "failed", "imported", "failed", "failed"
    ]  # fmt: skip
    assert len(notices) == 1 and b"drop.csv" in notices[0], notices
    logged = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [line["event"] for line in logged] == ["file", "run"], logged

    forms = known_forms(echo)
    assert_nowhere(forms, result, tmp_path / "logs")
    assert len(assert_nowhere(forms, result, reports)) >= 4  # report, summaries, journal
    for form in forms:
        assert form.encode() not in notices[0], f"{form!r} in the notification"


@pytest.mark.parametrize("written", ["plain", "\\u-escaped"])
def test_token_refusal_naming_the_secret_as_its_error_code_does_not_print_it(
    cli, serve_app, tmp_path, monkeypatch, written
):
    secret = "lowercase_secret_like_an_error_code"  # what an OAuth2 error code looks like
    monkeypatch.setenv("CG_CLIENT_SECRET", secret)
    code = secret if written == "plain" else unicode_escaped(secret)

    async def token(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            status=401, text=f'{{"error": "{code}"}}', content_type="application/json"
        )

    api = serve_app(api_app(healthy_put(), token))
    result = cli(
        "run", source_file(tmp_path, 1), "--report", tmp_path / "r.csv", *api.args(), *FAST
    )
    assert result.code == 2, result.output
    assert "refused the client credentials (401 refused)" in result.err, result.err
    assert secret not in result.output and code not in result.output


# --- 13. Retry-After and servers that hang -----------------------------------------------------


@pytest.mark.timeout(90)
def test_retry_after_of_a_day_fails_the_rows_within_seconds(serve_app, tmp_path):
    async def put(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(
            {"message": "Too Many Attempts."}, status=429, headers={"Retry-After": "86400"}
        )

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 5)
    report = tmp_path / "r.csv"

    result, seconds = run_bounded("run", source, "--report", report, *api.args(), *FAST, timeout=60)
    assert seconds < 20, f"took {seconds:.1f} s"
    assert result.code == 1, result.output
    assert_clean(result)
    lines = assert_every_row(report, 5)
    assert {line["status"] for line in lines} <= {"failed", "skipped"}, lines
    failed = [line for line in lines if line["status"] == "failed"]
    assert failed, lines
    for line in failed:
        assert "Retry-After" in line["errors"] and "86400" in line["errors"], line
    assert all(line["errors"] for line in lines), lines


def test_short_retry_after_is_obeyed(cli, serve_app, tmp_path):
    answer = healthy_put()
    count = {"puts": 0}

    async def put(request: web.Request) -> web.StreamResponse:
        count["puts"] += 1
        if count["puts"] == 1:
            await request.read()
            return web.json_response(
                {"message": "Too Many Attempts."}, status=429, headers={"Retry-After": "1"}
            )
        return await answer(request)

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 1)
    report = tmp_path / "r.csv"

    result = cli("run", source, "--report", report, *api.args(), "--max-wait", "5", *FAST)
    assert result.code == 0, result.output
    (line,) = assert_every_row(report, 1)
    assert line["status"] == "imported" and line["activity_id"], line
    first, second = api.puts
    assert second.at - first.at >= 0.9, "Retry-After: 1 was not waited for"


@pytest.mark.timeout(150)
def test_a_server_that_never_answers_stops_the_run_in_bounded_time(serve_app, tmp_path):
    async def put(request: web.Request) -> web.Response:
        await asyncio.Event().wait()  # accepts, reads nothing more, never answers
        raise AssertionError("unreachable")

    api = serve_app(api_app(put))
    source = source_file(tmp_path, 60)
    report = tmp_path / "r.csv"

    result, seconds = run_bounded(
        "run", source, "--report", report, *api.args(),
        "--timeout", "0.5", "--concurrency", "4", *FAST,
        timeout=120,
    )  # fmt: skip
    # 60 rows x 5 attempts x 0.5 s / 4 workers = 37.5 s without a circuit breaker
    assert seconds < 25, f"took {seconds:.1f} s: no circuit breaker"
    assert result.code == 1, result.output
    assert "--resume" in result.err, result.err
    assert_clean(result)
    lines = assert_every_row(report, 60)
    assert {line["status"] for line in lines} <= {"failed", "skipped"}, Counter(
        line["status"] for line in lines
    )
    assert len(api.puts) < 60, f"{len(api.puts)} PUTs into a server that never answers"


# --- 14. an error body that is not UTF-8 ------------------------------------------------------

NOT_UTF8 = b"\xff\xfe\xfa bad gateway"


def bad_gateway() -> Handler:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            status=502, body=NOT_UTF8, headers={"Content-Type": "text/plain; charset=utf-8"}
        )

    return answer


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


def test_non_utf8_token_error_is_one_clean_line(cli, serve_app, tmp_path):
    api = serve_app(api_app(healthy_put(), bad_gateway()))
    source = source_file(tmp_path, 2)

    result = cli("run", source, "--report", tmp_path / "r.csv", *api.args(), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert api.token_requests and api.puts == []


# --- 15. FIFOs where regular files belong ------------------------------------------------------


def fifo(path: Path) -> Path:
    os.mkfifo(path, 0o600)
    path.chmod(0o600)  # owner-only, so only "is it a regular file?" can refuse it
    return path


@pytest.mark.timeout(60)
def test_credentials_file_that_is_a_fifo_is_refused(sandbox, tmp_path):
    credentials = fifo(tmp_path / "credentials.toml")
    source = source_file(tmp_path, 2)
    env = {"CG_CLIENT_ID": "", "CG_CLIENT_SECRET": "", "CG_CREDENTIALS_FILE": str(credentials)}

    result, seconds = run_bounded(
        "run", source, "--report", tmp_path / "r.csv", *api_args(sandbox), *FAST,
        env=env, timeout=15,
    )  # fmt: skip
    assert result.code == 2, result.output
    assert seconds < 10, f"took {seconds:.1f} s"
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0


@pytest.mark.timeout(60)
def test_mapping_that_is_a_fifo_is_refused(tmp_path):
    mapping = fifo(tmp_path / "m.toml")
    source = source_file(tmp_path, 2)

    result, seconds = run_bounded(
        "validate", source, "--mapping", mapping, "--report", tmp_path / "r.csv", timeout=15
    )
    assert result.code == 2, result.output
    assert seconds < 10, f"took {seconds:.1f} s"
    assert_clean(result)


# --- 17. report folder problems, a full disk, two runs at once --------------------------------


def test_report_that_is_a_directory_is_refused_before_sending(cli, sandbox, tmp_path):
    folder = tmp_path / "out.csv"
    folder.mkdir()
    source = source_file(tmp_path, 3)

    result = cli("run", source, "--report", folder, *api_args(sandbox), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0
    assert folder.is_dir()


def test_report_below_a_regular_file_is_refused_before_sending(cli, sandbox, tmp_path):
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("not a folder\n", encoding="utf-8")
    source = source_file(tmp_path, 3)

    result = cli("run", source, "--report", blocker / "r.csv", *api_args(sandbox), *FAST)
    assert result.code == 2, result.output
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_links_planted_beside_the_report_never_make_it_write_elsewhere(
    cli, sandbox, tmp_path, suffix
):
    """Issue 18.8: whoever may write in the reports folder plants links at every name a run
    writes (the report, its .partial, summary, journal, retry and summary workbooks): each
    output is created afresh beside them, never through them."""
    from importer.report_files import lock_path, outputs

    source = source_file(tmp_path, 3)
    folder = tmp_path / "reports"
    folder.mkdir()
    report = folder / f"r{suffix}"
    victims = []
    for number, path in enumerate(outputs(report)):
        if path == lock_path(report):
            continue  # a lock is never replaced (a run holding it would lose it): see below
        victim = tmp_path / f"victim-{number}"
        victim.write_text("precious", encoding="utf-8")
        path.symlink_to(victim)
        victims.append(victim)
    rows = [HEADER, *activity_rows(3)]
    rows[1][1] = ""  # one invalid row: a retry file is written too
    write_csv(source, rows)
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert [v.read_bytes() for v in victims] == [b"precious"] * len(victims)
    assert result.code == 1, result.output
    assert not report.is_symlink() and report.stat().st_size > 0

    lock = lock_path(report)
    assert not lock.exists()  # the run removed its lock when it ended
    lock.symlink_to(victims[0])
    again = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert again.code == 2 and "is a link" in again.err, again.output
    assert victims[0].read_bytes() == b"precious"


def test_a_report_name_too_long_for_its_companions_is_refused_before_sending(
    cli, sandbox, tmp_path
):
    """Issue 18.9: ``<report>.journal.sqlite`` must fit in a file name too."""
    source = source_file(tmp_path, 3)
    report = tmp_path / ("\u3042" * 79 + ".csv")  # 241 bytes: its journal's name would not fit
    result = cli("run", source, "--report", report, *api_args(sandbox), *FAST)
    assert result.code == 2 and "too long" in result.err and "shorter --report" in result.err
    assert_clean(result)
    assert sandbox.sandbox.stats.puts == 0


def test_the_default_report_of_a_long_input_name_is_shortened(cli, sandbox, tmp_path, monkeypatch):
    """Issue 18.9: an input named with 240 bytes still gets its report (and companions)."""
    monkeypatch.chdir(tmp_path)
    source = write_csv(tmp_path / ("\u3042" * 80 + ".csv"), [HEADER, *activity_rows(3)])
    result = cli("run", source, *api_args(sandbox), *FAST)
    assert result.code == 0, result.output
    written = list((tmp_path / "reports").iterdir())
    assert written and all(len(p.name.encode()) <= 255 for p in written)
    assert any(p.name.startswith("\u3042" * 20) for p in written)


#: largest file the limited run may write, picked by trying: enough to start sending (the
#: journal holds ~100 KB before the first PUT), too little for the journal's write-ahead log
#: and the report (~280 KB) of 2,000 rows
FILE_SIZE_LIMIT = 160 * 1024


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG


@pytest.mark.timeout(180)
def test_disk_full_stops_cleanly_and_resume_finishes(cli, sandbox, tmp_path):
    rows = 2000
    source = source_file(tmp_path, rows)
    report = tmp_path / "out" / "r.csv"
    argv = ["run", str(source), "--report", str(report), *api_args(sandbox), *FAST]

    try:
        full = subprocess.run(
            [sys.executable, "-m", "importer", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            preexec_fn=limit_file_size,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the run on a full disk hangs")
    limited = CliResult(full.returncode, full.stdout, full.stderr)
    assert sandbox.sandbox.stats.puts > 0, "the limit stopped the run before it sent anything"
    assert limited.code in (1, 2), limited.output
    assert_clean(limited)
    assert "--resume" in limited.err, limited.err

    result = cli(*argv, "--resume")
    assert result.code == 0, result.output
    lines = assert_every_row(report, rows)
    assert {line["status"] for line in lines} == {"imported"}
    assert sandbox.sandbox.stats.duplicates == 0
    assert len(sandbox.sandbox.activities) == rows


@pytest.mark.timeout(120)
def test_second_run_on_the_same_report_is_refused_while_the_first_runs(make_sandbox, tmp_path):
    box = make_sandbox(latency=0.2)
    rows = 100
    source = source_file(tmp_path, rows)
    report = tmp_path / "out" / "r.csv"
    journal = report.with_name(report.name + ".journal.sqlite")
    argv = ["run", str(source), "--report", str(report), *api_args(box), "--rate", "20"]

    first = start_run([*argv, "--quiet"], tmp_path)
    try:
        wait_until(journal.exists, first, timeout=30)
        second, seconds = run_bounded(*argv, "--quiet", timeout=60)
        first_still_running = first.poll() is None
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()

    assert second.code == 2, second.output
    assert "another" in second.err.lower() and "lock" in second.err.lower(), second.err
    assert_clean(second)
    assert seconds < 15, f"the second run took {seconds:.1f} s to give up"
    assert first_still_running, "the first run ended before the second was refused"
    assert first.returncode == 0, out + err
    lines = assert_every_row(report, rows)
    assert {line["status"] for line in lines} == {"imported"}
    assert box.sandbox.stats.puts == rows, "the second run sent rows too"
    assert box.sandbox.stats.duplicates == 0


# --- 19. odd expires_in values -----------------------------------------------------------------


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
