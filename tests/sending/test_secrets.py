"""No secret or token is ever printed or stored, in whatever form a server echoes it back."""

from __future__ import annotations

import base64
import html
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web

from importer.inbox import default_reports
from importer.sandbox import DEMO_CLIENT_ID

from ..helpers import (
    FAST,
    HEADER,
    CliResult,
    activity_rows,
    api_args,
    assert_clean,
    assert_every_row,
    read_report,
    read_rows,
    run_subprocess,
    source_file,
    write_csv,
    written_bytes,
)
from ..servers import SECRET, TOKEN, Handler, api_app, healthy_put, token_endpoint

pytestmark = pytest.mark.usefixtures("api_env")


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
