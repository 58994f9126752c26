"""The sent-payload history: real SQLite files, and the payload hash that feeds it."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.errors import ReportError
from importer.history import History, unchanged_note
from importer.mapping import plan_columns
from importer.validate import ChunkResult, Validator
from schemas.activity import FIELDS

from ..helpers import HEADER

API = "https://imports.api.eu.customergauge.com/activities"
ROW = ["R-1", "Acme", "ann@acme.example", "Call", "Excel", "2024-03-05 14:22:10", "Hello"]


def _checked(rows: list[list[str]], header: list[str] = HEADER) -> ChunkResult:
    """Rows through the real mapping and validation, as the pipeline checks a chunk."""
    chunk = pd.DataFrame(rows, index=range(2, 2 + len(rows)), dtype=object)
    chunk.columns = range(len(header))
    return Validator(plan_columns(header, None, "t.csv")).check(chunk)


def _sendable(rows: list[dict[str, str | None]], extra_keys: tuple[str, ...]) -> ChunkResult:
    """A chunk result holding these sendable rows (fields first, then extras, as validated)."""
    columns = [*FIELDS, *extra_keys]
    frame = pd.DataFrame(
        [[row.get(name) for name in columns] for row in rows], columns=columns, dtype=object
    )
    return ChunkResult(pd.DataFrame(), frame, extra_keys, pd.DataFrame(), 0)


@pytest.fixture
def clock() -> Iterator[list[dt.datetime]]:
    """A settable UTC clock for imported_at: the test moves it."""
    yield [dt.datetime(2024, 5, 1, 2, 3, 4, tzinfo=dt.UTC)]


def _history(path: Path, clock: list[dt.datetime], api: str = API, client: str = "c1") -> History:
    return History(path, api, client, clock=lambda: clock[0])


# --- the payload hash ---------------------------------------------------------------------


def test_a_change_anywhere_in_the_payload_changes_the_hash():
    edited = [
        [*ROW[:1], "Acme Ltd", *ROW[2:]],  # a field
        [*ROW[:2], "", *ROW[3:]],  # a field left blank (not sent)
        [*ROW[:5], "2024-03-05 14:22:11", *ROW[6:]],  # the time, by a second
        [*ROW[:6], "Hello!"],  # additional information
        [*ROW[:6], ""],  # additional information left blank (not sent)
        ["R-2", *ROW[1:]],  # the reference
    ]
    hashes = _checked([ROW, *edited]).payload_hashes()
    assert len(hashes) == 7 and all(len(h) == 16 for h in hashes)
    assert len(set(hashes)) == 7


def test_the_same_payload_in_another_column_order_has_the_same_hash():
    order = [6, 3, 0, 5, 1, 4, 2]
    moved = _checked([[ROW[i] for i in order]], [HEADER[i] for i in order])
    assert moved.payload_hashes() == _checked([ROW]).payload_hashes()
    # blank cells are not sent: the same body with or without a column of blanks
    with_blank = _checked([[*ROW, ""]], [*HEADER, "Agent"])
    assert with_blank.payload_hashes() == _checked([ROW]).payload_hashes()


def test_hashes_follow_payloads_order():
    rows = [[f"R-{i}", *ROW[1:]] for i in range(5)]
    rows[2][3] = ""  # type is required: row 4 is invalid and not sendable
    result = _checked(rows)
    assert [p[1] for p in result.payloads()] == ["R-0", "R-1", "R-3", "R-4"]
    assert len(result.payload_hashes()) == 4


# small alphabets (with the framing's own characters) so that equal bodies turn up often
_TEXT = st.one_of(st.none(), st.text(alphabet="a1:,~", max_size=4))
_ROW = st.fixed_dictionaries(
    {"reference": st.text(alphabet="r:,", max_size=2), "account": _TEXT, "type": _TEXT},
    optional={"x": _TEXT, "y": _TEXT, "account:": _TEXT},
)


@settings(max_examples=300, deadline=None)
@given(first=_ROW, second=_ROW)
def test_equal_bodies_have_equal_hashes_and_different_ones_different(first, second):
    keys = ("x", "y", "account:")
    result = _sendable([first, second], keys)
    bodies = [body for _, _, body in result.payloads()]
    one, two = result.payload_hashes()
    assert (one == two) == (bodies[0] == bodies[1])


@settings(max_examples=100, deadline=None)
@given(row=_ROW, shuffle=st.permutations(range(len(FIELDS) + 3)))
def test_column_order_never_changes_the_hash(row, shuffle):
    keys = ("x", "y", "account:")
    result = _sendable([row], keys)
    columns = list(result.sendable.columns)
    fields = [columns[i] for i in shuffle if columns[i] not in keys]
    extras = [columns[i] for i in shuffle if columns[i] in keys]
    moved = ChunkResult(
        result.outcomes, result.sendable[fields + extras], tuple(extras), result.issues, 0
    )
    assert moved.payload_hashes() == result.payload_hashes()


def test_an_additional_information_key_named_like_a_field_is_not_that_field():
    as_field = _sendable([{"reference": "r", "account": "A"}], ())
    as_extra = _sendable([{"reference": "r", "account": None, "contact": "A"}], ("account",))
    as_extra.sendable.iloc[0, -1] = "A"  # the extra column named account, not the field
    assert as_field.payload_hashes() != as_extra.payload_hashes()


# --- the history --------------------------------------------------------------------------


def test_an_imported_payload_is_unchanged_with_its_activity_id_and_time(tmp_path, clock):
    hashes = _checked([ROW, ["R-2", *ROW[1:]]]).payload_hashes()
    with _history(tmp_path / "h.sqlite", clock) as history:
        history.record("R-1", hashes[0], "101", "monday.csv")
    with _history(tmp_path / "h.sqlite", clock) as history:
        found = history.unchanged(["R-1", "R-2"], hashes)
    assert found == [("101", "2024-05-01T02:03:04Z"), None]


def test_a_changed_payload_is_not_unchanged(tmp_path, clock):
    before, after = _checked([ROW, [*ROW[:6], "Hello again"]]).payload_hashes()
    path = tmp_path / "h.sqlite"
    with _history(path, clock) as history:
        history.record("R-1", before, "101", "monday.csv")
    with _history(path, clock) as history:
        assert history.unchanged(["R-1"], [after]) == [None]
        clock[0] += dt.timedelta(days=1)
        history.record("R-1", after, "101", "tuesday.csv")
    with _history(path, clock) as history:
        assert history.unchanged(["R-1"], [after]) == [("101", "2024-05-02T02:03:04Z")]
    with _history(path, clock) as history:
        assert history.unchanged(["R-1"], [before]) == [None]


def test_api_hosts_and_client_ids_do_not_share_entries(tmp_path, clock):
    digest = bytes(16)
    path = tmp_path / "h.sqlite"
    with _history(path, clock) as history:
        history.record("R-1", digest, "101", "a.csv")
    others = [
        ("https://imports.api.us.customergauge.com/activities", "c1"),
        (API, "c2"),
    ]
    for api, client in others:
        with _history(path, clock, api, client) as history:
            assert history.unchanged(["R-1"], [digest]) == [None]
    # the same host, however written, is the same API
    for api in ("imports.api.eu.customergauge.com", "HTTPS://Imports.API.eu.customergauge.com/"):
        with _history(path, clock, api) as history:
            assert history.unchanged(["R-1"], [digest]) == [("101", "2024-05-01T02:03:04Z")]


def test_the_history_holds_the_client_id_and_host_but_no_secret(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    with _history(path, clock, "https://user:s3cret-pw@api.example:8443/activities") as history:
        history.record("R-1", bytes(16), "101", "a.csv")
    with sqlite3.connect(path) as db:
        scopes = db.execute("SELECT api, client_id FROM scope").fetchall()
    assert scopes == [("api.example:8443", "c1")]
    assert b"s3cret" not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_a_reference_repeated_in_a_run_is_sent_again(tmp_path, clock):
    """An earlier row of the same reference may be sent: the later one must follow it."""
    old, new = bytes(16), b"\x01" * 16
    path = tmp_path / "h.sqlite"
    with _history(path, clock) as history:
        history.record("R-1", old, "101", "a.csv")
    with _history(path, clock) as history:
        assert history.unchanged(["R-1", "R-1"], [new, old]) == [None, None]
        assert history.unchanged(["R-1"], [old]) == [None]  # a later chunk, too
    with _history(path, clock) as history:  # a new run starts afresh
        assert history.unchanged(["R-1"], [old]) == [("101", "2024-05-01T02:03:04Z")]


def test_rows_reach_the_disk_in_batches_before_close(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    history = History(path, API, "c1", batch=100, every=3600, clock=lambda: clock[0])
    reader = _history(path, clock)
    try:
        for i in range(99):
            history.record(f"R-{i}", bytes(16), str(i), "a.csv")
        assert reader.unchanged(["R-0"], [bytes(16)]) == [None]
        history.record("R-99", bytes(16), "99", "a.csv")
        found = reader.unchanged([f"R-{i}" for i in range(1, 100)], [bytes(16)] * 99)
        assert all(found)
    finally:
        reader.close()
        history.close()


def test_record_many_and_a_big_lookup(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    rows = [(f"R-{i}", i.to_bytes(16, "big"), str(i)) for i in range(50_000)]
    with _history(path, clock) as history:
        history.record_many(rows, "big.csv")
    with _history(path, clock) as history:
        hashes = [digest if i % 3 else bytes(16) for i, (_, digest, _) in enumerate(rows)]
        found = history.unchanged([ref for ref, _, _ in rows], hashes)
    assert [f is not None for f in found] == [i % 3 != 0 or i == 0 for i in range(50_000)]
    assert found[4] == ("4", "2024-05-01T02:03:04Z")


def test_files_fully_imported_stay_so_under_any_name(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    with _history(path, clock) as history:
        assert history.file_imported("abc") is None
        history.record_file("abc", "monday.csv", False, "reports/monday-1.csv")
        first = history.file_imported("abc")
        assert first is not None and not first.fully_imported and first.imported_at is None
        clock[0] += dt.timedelta(hours=1)
        history.record_file("abc", "monday-again.csv", True, "reports/monday-2.csv")
        clock[0] += dt.timedelta(hours=1)
        history.record_file("abc", "copy.csv", False, "reports/copy.csv")
    with _history(path, clock) as history:
        record = history.file_imported("abc")
        assert history.file_imported("abd") is None
    assert record is not None and record.fully_imported
    assert record.name == "monday-again.csv" and record.report == "reports/monday-2.csv"
    assert record.first_seen == "2024-05-01T02:03:04Z"
    assert record.imported_at == "2024-05-01T03:03:04Z"
    assert record.last_imported == "2024-05-01T04:03:04Z"
    with _history(path, clock, client="c2") as history:  # another client: not its file
        assert history.file_imported("abc") is None


def test_a_second_process_waits_for_the_write_lock(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    _history(path, clock).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another run in the middle of a write
    threading.Timer(0.5, other.execute, ("COMMIT",)).start()
    started = time.monotonic()
    with _history(path, clock) as history:
        history.record_many([("R-1", bytes(16), "1")], "a.csv")
        assert history.unchanged(["R-1"], [bytes(16)]) != [None]
    assert time.monotonic() - started >= 0.4
    other.close()


def test_a_file_that_is_not_sqlite_is_refused_clearly(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    path.write_text("reference,activity_id\nR-1,101\n" * 200)
    with pytest.raises(ReportError, match=r"not a cg-import history .*another --history path"):
        _history(path, clock)
    assert path.read_text().startswith("reference,")  # left as it was


def test_another_sqlite_database_is_refused_clearly(tmp_path, clock):
    path = tmp_path / "report.csv.journal.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE outcome (source_row INTEGER)")
    db.close()
    with pytest.raises(ReportError, match="an SQLite database but not a cg-import history"):
        _history(path, clock)


def test_a_history_from_a_newer_version_is_refused_clearly(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    _history(path, clock).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ReportError, match=r"newer cg-import .*upgrade"):
        _history(path, clock)


def test_a_damaged_history_is_refused_clearly(tmp_path, clock):
    path = tmp_path / "h.sqlite"
    with _history(path, clock) as history:
        history.record_many([(f"R-{i}", bytes(16), str(i)) for i in range(5_000)], "a.csv")
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page after the first
    path.write_bytes(bytes(data))
    with pytest.raises(ReportError, match=r"history .*h\.sqlite") as caught:
        history = _history(path, clock)
        history.unchanged(["R-1"], [bytes(16)])
    assert "\n" not in str(caught.value) and "move it aside" in str(caught.value)


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path, clock):
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(ReportError, match=r"cannot open the history .*--history"):
        _history(tmp_path / "taken" / "h.sqlite", clock)


def test_a_full_disk_is_a_clear_error(tmp_path, clock):
    history = _history(tmp_path / "h.sqlite", clock)
    (pages,) = history._db.execute("PRAGMA page_count").fetchone()
    history._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk is full
    rows = [(f"R-{i}", bytes(16), str(i)) for i in range(10_000)]
    with pytest.raises(ReportError, match=r"cannot write the history .*free disk space"):
        history.record_many(rows, "a.csv")
    history._db.close()
    history.lookup.close()


def test_the_note_of_an_unchanged_row_says_when_it_was_imported():
    assert unchanged_note("2024-05-01T02:03:04Z") == (
        "not sent: imported with exactly this content on 2024-05-01 02:03:04 UTC"
    )


# --- history only from proof ------------------------------------------------------------------


def test_a_send_that_failed_though_applied_is_sent_again_next_time(cli, api_env, tmp_path):
    """The API applies the edited rows but answers 500: the history must not keep the old
    payload as imported, or sending the old file again would call it ``unchanged`` and the
    API would keep the edited values for ever."""
    from aiohttp import web

    from ..helpers import activity_rows, write_csv
    from ..servers import api_app, imported, serve

    held: dict[str, dict[str, object]] = {}
    mode = {"answer": "ok"}

    async def put(request: web.Request) -> web.Response:
        body = await request.json()
        held[body["reference"]] = body  # applied, whatever the answer says
        if mode["answer"] == "ok":
            return imported(body, len(held))
        return web.json_response({"message": "Server Error"}, status=500)

    rows = activity_rows(6)
    old = write_csv(tmp_path / "old.csv", [HEADER, *rows])
    edited = [[*row[:-1], f"{row[-1]} (edited)"] for row in rows]
    new = write_csv(tmp_path / "new.csv", [HEADER, *edited])
    history = tmp_path / "history.sqlite"
    with serve(api_app(put)) as server:
        args = [
            "--history", history, "--only-changed", "--quiet", "--max-attempts", "1",
            "--api-url", f"{server.url}/activities", "--token-url", f"{server.url}/oauth2/token",
        ]  # fmt: skip
        assert cli("run", old, "--report", tmp_path / "r1.csv", *args).code == 0
        mode["answer"] = "fail"
        assert cli("run", new, "--report", tmp_path / "r2.csv", *args).code == 1
        assert all("(edited)" in str(b["additional_information_object"]) for b in held.values())
        mode["answer"] = "ok"
        again = cli("run", old, "--report", tmp_path / "r3.csv", *args)
    assert again.code == 0, again.err
    from ..helpers import read_report

    assert {line["status"] for line in read_report(tmp_path / "r3.csv")} == {"imported"}
    assert not any("(edited)" in str(b["additional_information_object"]) for b in held.values())
