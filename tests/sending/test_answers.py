"""What an answer means: ``answers.decide``, a pure function, case by case.

The sender only moves bytes and follows the decision; every rule of the delivery semantics
that reads an answer (status, Retry-After, Location, data.id, the masked body, the attempt
counters and the breaker) is pinned here without a server, a clock or a sleep. The same
rules under real faults are pinned end to end beside this file: test_delivery.py,
test_odd_answers.py, test_tokens.py and test_stopping.py.
"""

from __future__ import annotations

import datetime as dt
import json
from email.utils import format_datetime
from typing import Any

import pytest

from importer.answers import Answer, Decision, SendOptions, Tries, decide
from importer.masking import Masker

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
OPTIONS = SendOptions(
    "https://api.example/activities",
    max_attempts=5,
    retry_wait=0.5,
    max_backoff=30.0,
    max_wait=300.0,
    breaker=20,
)
SECRET = "s3cret-Value-0f-the-client"
MASK = Masker("client-1", SECRET)
TIMEOUT = "no answer in time (timeout)"
REDIRECT = (
    "HTTP 302: the API redirected to https://login.example/sso; redirects are never "
    "followed (the row was not sent there): check --api-url"
)
NO_LOCATION = (
    "HTTP 301: the API redirected to (no Location); redirects are never followed (the row "
    "was not sent there): check --api-url"
)
LONG_WAIT = (
    "HTTP 429: the API asked to wait 86,400 s (Retry-After: 86400), more than --max-wait "
    "300 s; run it again later with --resume"
)
PORTAL = "HTTP 200 without the API's data.id: '<html>Welcome to the hotel wifi</html>'"


def answer(status: int | None, body: Any = None, **headers: str) -> Answer:
    """An answer as the sender builds it; ``status`` None: none came (a timeout)."""
    if status is None:
        return Answer(None, "", None, Masker(), TIMEOUT)
    raw = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return Answer(status, raw, named, MASK)


def http_date(seconds: float) -> str:
    return format_datetime(NOW + dt.timedelta(seconds=seconds), usegmt=True)


#: (the answer, the row's tries before it, unanswered in a row with it, the decision)
CASES = {
    "200 with data.id: imported": (
        answer(200, {"data": {"id": "A-1"}}),
        Tries(),
        0,
        Decision("imported", Tries(1, 0, 0, 200), activity_id="A-1"),
    ),
    "201 with data.id, after a failure: imported": (
        answer(201, {"data": {"id": 42}}),
        Tries(1, 1, 0, 503, "HTTP 503: api: HTTP 503"),
        0,
        Decision("imported", Tries(2, 1, 0, 201, "HTTP 503: api: HTTP 503"), activity_id="42"),
    ),
    "200 without data.id (a captive portal): tried again": (
        answer(200, "<html>Welcome to the hotel wifi</html>"),
        Tries(),
        0,
        Decision("retry", Tries(1, 1, 0, 200, PORTAL), wait=0.5),
    ),
    "200 with an empty data.id: no proof, tried again": (
        answer(200, {"data": {"id": ""}}),
        Tries(),
        0,
        Decision(
            "retry",
            Tries(1, 1, 0, 200, """HTTP 200 without the API's data.id: '{"data": {"id": ""}}'"""),
            wait=0.5,
        ),
    ),
    "3xx with Location: failed at once, never followed": (
        answer(302, "", Location="https://login.example/sso"),
        Tries(),
        0,
        Decision("failed", Tries(1, 0, 0, 302, REDIRECT), errors=REDIRECT),
    ),
    "3xx without Location, after a 503: failed, with the attempts": (
        answer(301),
        Tries(1, 1, 0, 503, "HTTP 503: api: HTTP 503"),
        0,
        Decision(
            "failed",
            Tries(2, 1, 0, 301, NO_LOCATION),
            errors=f"gave up after 2 attempts: {NO_LOCATION}",
        ),
    ),
    "401: renew the token, no failure counted": (
        answer(401, {"message": "token expired"}),
        Tries(),
        0,
        Decision("renew", Tries(1, 0, 0, 401)),
    ),
    "429 with seconds: throttled that long": (
        answer(429, "", Retry_After="7"),
        Tries(),
        0,
        Decision("throttled", Tries(1, 0, 1, 429), wait=7.0),
    ),
    "429 with an HTTP date: throttled until then": (
        answer(429, "", Retry_After=http_date(90)),
        Tries(3, 0, 2, 429),
        0,
        Decision("throttled", Tries(4, 0, 3, 429), wait=90.0),
    ),
    "429 with a date gone by: no wait at all": (
        answer(429, "", Retry_After=http_date(-60)),
        Tries(),
        0,
        Decision("throttled", Tries(1, 0, 1, 429), wait=0.0),
    ),
    "429 without Retry-After: the gate's own pause": (
        answer(429),
        Tries(),
        0,
        Decision("throttled", Tries(1, 0, 1, 429), wait=None),
    ),
    "429 with nonsense for Retry-After: the gate's own pause": (
        answer(429, "", Retry_After="soon"),
        Tries(),
        0,
        Decision("throttled", Tries(1, 0, 1, 429), wait=None),
    ),
    "429 beyond --max-wait: failed, and the run halts": (
        answer(429, "", Retry_After="86400"),
        Tries(),
        0,
        Decision(
            "failed",
            Tries(1, 0, 1, 429, LONG_WAIT),
            errors=LONG_WAIT,
            halt="the API asked to wait 86,400 s (Retry-After)",
        ),
    ),
    "429 the 51st time: failed, still throttled": (
        answer(429, "", Retry_After="1"),
        Tries(50, 0, 50, 429),
        0,
        Decision(
            "failed",
            Tries(51, 0, 51, 429, "HTTP 429: still throttled after many waits"),
            errors="gave up after 51 attempts: HTTP 429: still throttled after many waits",
        ),
    ),
    "400 with errors: rejected with them": (
        answer(400, {"errors": {"email": ["is invalid"]}}),
        Tries(),
        0,
        Decision("rejected", Tries(1, 0, 0, 400), errors="email: is invalid"),
    ),
    "422 with errors on several fields: rejected with each": (
        answer(422, {"errors": {"type": "is required", "happened_at": ["bad", "future"]}}),
        Tries(2, 1, 0, 503, "HTTP 503: api: HTTP 503"),
        0,
        Decision(
            "rejected",
            Tries(3, 1, 0, 422, "HTTP 503: api: HTTP 503"),
            errors="type: is required | happened_at: bad | happened_at: future",
        ),
    ),
    "422 echoing the client secret: rejected, the secret masked": (
        answer(422, {"errors": {"subject": [f"'{SECRET}' is not allowed"]}}),
        Tries(),
        0,
        Decision("rejected", Tries(1, 0, 0, 422), errors="subject: '***' is not allowed"),
    ),
    "404 with a message: rejected": (
        answer(404, {"message": "Not Found"}),
        Tries(),
        0,
        Decision("rejected", Tries(1, 0, 0, 404), errors="api: Not Found"),
    ),
    "5xx: tried again after a backoff": (
        answer(503, "busy"),
        Tries(),
        0,
        Decision("retry", Tries(1, 1, 0, 503, "HTTP 503: api: HTTP 503 busy"), wait=0.5),
    ),
    "5xx the third time: the backoff doubled twice": (
        answer(500),
        Tries(2, 2, 0, 500, "HTTP 500: api: HTTP 500"),
        0,
        Decision("retry", Tries(3, 3, 0, 500, "HTTP 500: api: HTTP 500"), wait=2.0),
    ),
    "no answer at all: tried again, the last status kept": (
        answer(None),
        Tries(1, 1, 0, 503, "HTTP 503: api: HTTP 503"),
        1,
        Decision("retry", Tries(2, 2, 0, 503, TIMEOUT), wait=1.0),
    ),
    "no answer, the breaker's count reached: the run halts": (
        answer(None),
        Tries(),
        20,
        Decision(
            "retry",
            Tries(1, 1, 0, None, TIMEOUT),
            wait=0.5,
            halt=f"20 requests in a row got no answer (last: {TIMEOUT})",
        ),
    ),
    "the last attempt, a 5xx: failed, with the attempts": (
        answer(502, {"error": "bad gateway"}),
        Tries(4, 4, 0, 502, "HTTP 502: api: bad gateway"),
        0,
        Decision(
            "failed",
            Tries(5, 5, 0, 502, "HTTP 502: api: bad gateway"),
            errors="gave up after 5 attempts: HTTP 502: api: bad gateway",
        ),
    ),
    "the last attempt, no answer, the breaker too: failed and halts": (
        answer(None),
        Tries(6, 4, 2, 429, "HTTP 500: api: HTTP 500"),
        25,
        Decision(
            "failed",
            Tries(7, 5, 2, 429, TIMEOUT),
            errors=f"gave up after 7 attempts: {TIMEOUT}",
            halt=f"25 requests in a row got no answer (last: {TIMEOUT})",
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_what_an_answer_means(case: str) -> None:
    found, tries, unanswered, expected = CASES[case]
    assert decide(found, tries, OPTIONS, unanswered, NOW) == expected


def test_with_one_attempt_allowed_the_first_failure_is_final_without_a_count() -> None:
    options = SendOptions(OPTIONS.api_url, max_attempts=1)
    assert decide(answer(None), Tries(), options, 1, NOW) == Decision(
        "failed", Tries(1, 1, 0, None, TIMEOUT), errors=TIMEOUT
    )


def test_the_backoff_stops_growing_at_its_ceiling() -> None:
    options = SendOptions(OPTIONS.api_url, max_attempts=50, retry_wait=0.5, max_backoff=30.0)
    waits = []
    tries = Tries()
    for _ in range(10):
        decision = decide(answer(503), tries, options, 0, NOW)
        tries = decision.tries
        waits.append(decision.wait)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_a_row_followed_to_its_end_takes_every_turn_once() -> None:
    """One row's answers in sequence: the counters carry from decision to decision."""
    answers = [
        answer(None),
        answer(401),
        answer(429, "", Retry_After="2"),
        answer(503),
        answer(200, {"data": {"id": "A-9"}}),
    ]
    tries, actions = Tries(), []
    for unanswered, found in enumerate(answers, start=1):
        decision = decide(found, tries, OPTIONS, unanswered if found.status is None else 0, NOW)
        tries = decision.tries
        actions.append(decision.action)
    assert actions == ["retry", "renew", "throttled", "retry", "imported"]
    assert tries == Tries(5, 2, 1, 200, "HTTP 503: api: HTTP 503")
