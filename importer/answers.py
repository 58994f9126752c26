"""What an API answer means: a pure function from status, headers and body to a decision.

``decide`` reads one answer to one attempt and says what it means for the row (imported,
rejected, failed, or what to do before the next attempt) and for the run (halt); the
``Sender`` (send.py) acts on it. Its cases are tabled in tests/sending/test_answers.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal, NamedTuple

from .masking import Masker
from .outcome import ERROR_SEPARATOR

_MAX_THROTTLES = 50


@dataclass(frozen=True)
class SendOptions:
    """How hard and how fast to send."""

    api_url: str
    rate: float = 10.0
    concurrency: int = 8
    max_attempts: int = 5
    retry_wait: float = 0.5  # first backoff; doubles each attempt
    max_backoff: float = 30.0
    max_wait: float = 300.0  # the longest Retry-After obeyed; a longer one stops the run
    auto_rate: bool = False  # --rate auto: learn the API's budget (see rate.py)
    breaker: int = 20  # requests in a row (all workers) without an answer that stop the run
    grace: float = 10.0  # how long a stop waits for requests in flight
    #: seconds without a row answered for good (imported or rejected) while rows wait for
    #: the API that stop the run (0: never): a throttle or an outage without end
    stall: float = 600.0


class Answer:
    """What the API said to one request (``status`` None: no answer, see ``problem``).

    The body is masked of secrets (``mask``) before anything reads it as text, and what
    is decoded from it (JSON strings, data.id, Location) is masked again once decoded: an
    escaped secret only shows then. An answer that proves an import is only parsed for
    its ``data.id``, which is masked itself, so the common case pays for no masking of
    the whole body. Headers are read when asked for (most answers need none).
    """

    __slots__ = ("_headers", "_mask", "_text", "problem", "raw", "status")

    def __init__(
        self,
        status: int | None,
        raw: str,
        headers: Mapping[str, str] | None,
        mask: Masker,
        problem: str = "",
    ) -> None:
        self.status = status
        self.raw = raw  # as received: never kept or shown, only parsed for data.id
        self.problem = problem
        self._headers = headers
        self._mask = mask
        self._text: str | None = None

    def _header(self, name: str) -> str | None:
        return None if self._headers is None else self._headers.get(name)

    @property
    def retry_after(self) -> str | None:
        return self._header("Retry-After")

    @property
    def location(self) -> str:
        """Where a redirect pointed, masked of secrets."""
        return self._mask.url(self._header("Location") or "")

    @property
    def limit(self) -> str | None:
        """X-RateLimit-Limit: the budget the API announces."""
        return self._header("X-RateLimit-Limit")

    @property
    def remaining(self) -> str | None:
        """X-RateLimit-Remaining: what is left of it."""
        return self._header("X-RateLimit-Remaining")

    @property
    def text(self) -> str:
        """The body with every secret masked: the only form that is shown or kept."""
        if self._text is None:
            self._text = self._mask(self.raw)
        return self._text

    @property
    def body(self) -> Any:
        """The JSON body, every string in it masked after decoding."""
        return self._mask.decoded(_json(self.text))

    def activity_id(self) -> str | None:
        """``data.id`` of a JSON body: the proof that the activity was imported (masked
        like the text: an ID echoing a token is no ID to keep)."""
        body = _json(self.raw)
        data = body.get("data") if isinstance(body, dict) else None
        found = data.get("id") if isinstance(data, dict) else None
        # an ID is a positive whole number or one printable word; anything else (false,
        # [], {}, "   ", NaN, a line break, a lone surrogate, a bidi override) proves
        # nothing and must not go into the report or the history
        if isinstance(found, int) and not isinstance(found, bool):
            return str(found) if 0 < found < _ID_NUMBER_LIMIT else None
        if not isinstance(found, str) or not _ID.fullmatch(found) or not found.isprintable():
            return None
        return self._mask(found)

    def snippet(self) -> str:
        # masked again: joining the lines may join a secret's pieces
        text = self._mask(" ".join(self.text.split()))[:120]
        return f"'{text}'" if text else "an empty body"

    def errors(self) -> str:
        # masked again: the pieces, put together, may spell a secret
        return self._mask(_server_errors(self.status or 0, self.body, self.text))


#: what an activity ID may look like: printable (``str.isprintable``: no control, format
#: or surrogate character either), no spaces, at most 255 characters; or a positive number
#: below 10^30
_ID = re.compile(r"[^\s\x00-\x1f\x7f]{1,255}")
_ID_NUMBER_LIMIT = 10**30

Action = Literal["imported", "rejected", "failed", "retry", "throttled", "renew"]
#: the actions that are a row's final outcome (its status)
FINAL: tuple[Action, ...] = ("imported", "rejected", "failed")


class Tries(NamedTuple):
    """What sending one row has been through so far."""

    attempts: int = 0  # requests sent
    failures: int = 0  # of them, those that count toward ``max_attempts``
    throttles: int = 0  # 429s obeyed
    last_status: int | None = None  # the last HTTP status answered
    problem: str = "not sent"  # why the row is not imported yet, as the report would say


class Decision(NamedTuple):
    """What one answer means for its row, and for the run (``decide``)."""

    action: Action  # a final status, or what to do before the next attempt
    tries: Tries  # with this answer counted
    activity_id: str | None = None  # imported: the API's data.id
    errors: str | None = None  # rejected: the API's errors; failed: why, as the report says
    #: retry: the backoff's ceiling (full jitter waits below it); throttled: the Retry-After
    #: in seconds (None: none given, the gate pauses as it sees fit)
    wait: float | None = None
    halt: str | None = None  # the whole run stops, and why


def decide(
    answer: Answer, tries: Tries, options: SendOptions, unanswered: int, now: dt.datetime
) -> Decision:
    """What ``answer`` to the attempt after ``tries`` means, with nothing else to go on:
    ``unanswered``, requests in a row across workers without an answer (this one counted);
    ``now``, to read a Retry-After date. The cases are tabled in tests/sending/test_answers.py."""
    status = answer.status
    tries = tries._replace(attempts=tries.attempts + 1)
    if status is None:
        halt = None
        if unanswered >= options.breaker:
            halt = f"{unanswered} requests in a row got no answer (last: {answer.problem})"
        return _failure(tries._replace(problem=answer.problem), options, halt)
    tries = tries._replace(last_status=status)
    if 200 <= status < 300:
        activity_id = answer.activity_id()
        if activity_id is not None:
            return Decision("imported", tries, activity_id=activity_id)
        # a proxy or captive portal answers 200 too: without data.id nothing proves the
        # import, so the row is tried again and, failing that, resent later
        problem = f"HTTP {status} without the API's data.id: {answer.snippet()}"
        return _failure(tries._replace(problem=problem), options)
    if 300 <= status < 400:
        return _failed(
            tries,
            f"HTTP {status}: the API redirected to {answer.location or '(no Location)'}; "
            "redirects are never followed (the row was not sent there): check --api-url",
        )
    if status == 401:
        return Decision("renew", tries)
    if status == 429:
        return _throttled(answer, tries._replace(throttles=tries.throttles + 1), options, now)
    if 400 <= status < 500:
        return Decision("rejected", tries, errors=answer.errors())
    return _failure(tries._replace(problem=f"HTTP {status}: {answer.errors()}"), options)


def _throttled(answer: Answer, tries: Tries, options: SendOptions, now: dt.datetime) -> Decision:
    """A 429: wait as asked, unless that is longer than ``max_wait`` (the run stops) or the
    row was throttled too often."""
    wait = _retry_after(answer.retry_after, now)
    if wait is not None and wait > options.max_wait:
        problem = (
            f"HTTP 429: the API asked to wait {wait:,.0f} s (Retry-After: "
            f"{answer.retry_after}), more than --max-wait {options.max_wait:,.0f} "
            "s; run it again later with --resume"
        )
        return _failed(tries, problem, f"the API asked to wait {wait:,.0f} s (Retry-After)")
    if tries.throttles <= _MAX_THROTTLES:
        return Decision("throttled", tries, wait=wait)
    return _failed(tries, "HTTP 429: still throttled after many waits")


def _failure(tries: Tries, options: SendOptions, halt: str | None = None) -> Decision:
    """An attempt that failed (``tries.problem``): again after an exponential backoff, or,
    at the last of ``max_attempts``, failed for good."""
    tries = tries._replace(failures=tries.failures + 1)
    if tries.failures >= options.max_attempts:
        return _failed(tries, tries.problem, halt)
    wait = min(options.max_backoff, options.retry_wait * 2 ** (tries.failures - 1))
    return Decision("retry", tries, wait=wait, halt=halt)


def _failed(tries: Tries, problem: str, halt: str | None = None) -> Decision:
    """The row failed for good because of ``problem``."""
    tries = tries._replace(problem=problem)
    errors = (
        f"gave up after {tries.attempts} attempts: {problem}" if tries.attempts > 1 else problem
    )
    return Decision("failed", tries, errors=errors, halt=halt)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (from
    ``now``, by default the current time)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def _server_errors(status: int, body: Any, text: str) -> str:
    """The API's errors as ``field: message`` entries joined by `` | ``."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            parts: list[str] = []
            for field, messages in errors.items():
                items = messages if isinstance(messages, list) else [messages]
                parts.extend(f"{field}: {message}" for message in items)
            return ERROR_SEPARATOR.join(parts)
        message = body.get("message") or body.get("error")
        if message:
            return f"api: {message}"
    snippet = " ".join(text.split())[:200] if text else ""
    return f"api: HTTP {status}" + (f" {snippet}" if snippet else "")
