"""Only a real ID is proof of an import (``answers.Answer.activity_id``): a 200 whose
``data.id`` is false, a list, an object, blank, NaN or holds a line break proves nothing,
so the row is tried again and never reported (nor remembered) as imported."""

from __future__ import annotations

import pytest

from importer.answers import Decision, Tries, decide

from .test_answers import NOW, OPTIONS, answer

JUNK = [False, True, [], {}, "   ", " A-1", "A 1", "A-1\n", "", 1.5, None, 0, -1, 10**300]
JUNK += ["\ud800", "A\u202e1", "A\u009b1", "A\u200b1", "\ufeffA", "A\u00ad1"]


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_a_junk_id_is_no_proof_of_import(junk: object) -> None:
    raw = '{"data": {"id": NaN}}' if junk is None else None
    if isinstance(junk, str) and "\ud800" in junk:
        raw = '{"data": {"id": "\\ud800"}}'  # as a server writes it: an escape in JSON
    decided = decide(answer(200, raw or {"data": {"id": junk}}), Tries(), OPTIONS, 0, NOW)
    assert decided.action == "retry", decided
    assert decided.activity_id is None
    assert decided.tries.problem.startswith("HTTP 200 without the API's data.id")


@pytest.mark.parametrize(("found", "kept"), [(42, "42"), ("A-1", "A-1"), ("9f2c-ü", "9f2c-ü")])
def test_a_number_or_one_printable_word_is_an_id(found: object, kept: str) -> None:
    decided = decide(answer(200, {"data": {"id": found}}), Tries(), OPTIONS, 0, NOW)
    assert decided == Decision("imported", Tries(1, 0, 0, 200), activity_id=kept)
