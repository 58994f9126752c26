"""A local stand-in for the Activities API, with switches for the faults real APIs have.

It serves ``POST /oauth2/token`` (client credentials) and ``PUT /activities`` with the
same rules as the importer's schema (``schemas.activity.field_rules()``, the table it is
built from) and the same 200/401/422/429 shapes as the real API, plus:

- ``rate_limit``: at most N requests in any sliding ``rate_limit_window`` seconds (one by
  default), else 429 with Retry-After; every answer announces the budget as Laravel does
  (``X-RateLimit-Limit``, ``X-RateLimit-Remaining``; a 429 also ``X-RateLimit-Reset``),
  unless ``rate_headers`` is off;
- ``fail_before`` / ``fail_after``: share of requests answered 503 before applying the
  write, or 500 after applying it;
- ``drop_after``: share of requests whose connection is dropped after applying the write;
- ``latency``: seconds to wait before answering; ``token_lifetime``: seconds a token lives;
- ``revoke_every``: every Nth request revokes all tokens (a 401 mid-run).

It counts creations per reference, so tests can prove no activity was created twice
(``GET /_sandbox/stats``, ``GET /_sandbox/activities/{reference}``). Contacts at the
domain ``unknown.example`` do not exist, so rows naming them are rejected with 422.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import gc
import math
import random
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from schemas.activity import field_rules

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"  # a public demo value, valid only against the sandbox
#: the rate-limit headers of the request being answered (each request is its own task)
_BUDGET: ContextVar[dict[str, str] | None] = ContextVar("budget", default=None)
UNKNOWN_CONTACT_DOMAIN = "unknown.example"
_CONTACT = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$|^\+?[\d\s().\-]{6,}$")


@dataclass
class SandboxConfig:
    """Fault switches of the sandbox (all off by default)."""

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    token_lifetime: float = 3600.0
    rate_limit: int = 0
    rate_limit_window: float = 1.0  # seconds the limit counts over (60: a per-minute budget)
    rate_headers: bool = True  # announce the budget in X-RateLimit-* headers
    latency: float = 0.0
    fail_before: float = 0.0
    fail_after: float = 0.0
    drop_after: float = 0.0
    revoke_every: int = 0  # every Nth PUT revokes all tokens first (forces 401s)
    seed: int | None = None


@dataclass
class SandboxStats:
    """What the sandbox saw; tests and benchmarks read it."""

    puts: int = 0
    applied: int = 0
    created: int = 0
    updated: int = 0
    throttled: int = 0
    unauthorised: int = 0
    rejected: int = 0
    failed_before: int = 0
    failed_after: int = 0
    dropped_after: int = 0
    token_requests: int = 0
    peak_per_second: int = 0  # most PUTs that arrived in any sliding second, 429s included
    duplicates: int = 0  # references created more than once: must stay 0
    first_put: float | None = None
    last_put: float | None = None
    throttled_at: list[float] = field(default_factory=list)  # seconds after the first PUT
    by_status: dict[str, int] = field(default_factory=dict)


class Sandbox:
    """The sandbox's state and its aiohttp application."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.stats = SandboxStats()
        self.activities: dict[str, dict[str, Any]] = {}
        self.creations: collections.Counter[str] = collections.Counter()
        self._tokens: dict[str, float] = {}
        self.issued_tokens: list[str] = []  # every token handed out, for leak checks
        self._arrivals: collections.deque[float] = collections.deque()
        self._requests: collections.deque[float] = collections.deque()
        self._random = random.Random(self.config.seed)
        self._rules = field_rules()
        self._next_id = 1000

    def app(self) -> web.Application:
        """The aiohttp application serving the API."""
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_put("/activities", self._activity)
        app.router.add_get("/_sandbox/stats", self._stats)
        app.router.add_get("/_sandbox/activities/{reference}", self._get_activity)
        return app

    # --- token endpoint ----------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.stats.token_requests += 1
        form = await request.post()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            import base64

            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                client_id = client_secret = None
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if client_id != self.config.client_id or client_secret != self.config.client_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = secrets.token_urlsafe(24)
        lifetime = self.config.token_lifetime
        self._tokens[token] = time.monotonic() + lifetime
        self.issued_tokens.append(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": math.ceil(lifetime)}
        )

    # --- activities ----------------------------------------------------------------------

    async def _activity(self, request: web.Request) -> web.StreamResponse:
        _BUDGET.set(None)  # each request is its own task: this is this request's
        response = await self._put(request)
        budget = _BUDGET.get()
        if budget:  # what this request left of the budget, on whatever answer it gets
            response.headers.update(budget)
        return response

    def _admit(self) -> web.StreamResponse | None:
        """Count one PUT; a 429 if the budget is spent, else None (admitted)."""
        config = self.config
        stats = self.stats
        now = time.monotonic()
        stats.puts += 1
        stats.first_put = stats.first_put or time.time()
        stats.last_put = time.time()
        sent = self._requests  # every request, admitted or not: the client's real peak
        sent.append(now)
        while sent[0] <= now - 1.0:
            sent.popleft()
        stats.peak_per_second = max(stats.peak_per_second, len(sent))
        arrivals = self._arrivals  # admitted ones: what the limit counts (as Laravel does)
        window = config.rate_limit_window
        while arrivals and arrivals[0] <= now - window:
            arrivals.popleft()
        if config.rate_limit and len(arrivals) >= config.rate_limit:
            stats.throttled += 1
            if len(stats.throttled_at) < 1000:
                stats.throttled_at.append(round(time.time() - stats.first_put, 3))
            wait = max(1, math.ceil(arrivals[0] + window - now))
            headers = {"Retry-After": str(wait)}
            if config.rate_headers:
                headers |= self._budget(0)
                headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + wait))
            return self._answer({"message": "Too Many Attempts."}, 429, headers=headers)
        arrivals.append(now)
        if config.rate_limit and config.rate_headers:
            _BUDGET.set(self._budget(config.rate_limit - len(arrivals)))
        return None

    async def _put(self, request: web.Request) -> web.StreamResponse:
        config = self.config
        stats = self.stats
        throttled = self._admit()
        if throttled is not None:
            return throttled
        if config.latency:
            await asyncio.sleep(config.latency)

        if config.revoke_every and stats.puts % config.revoke_every == 0:
            self._tokens.clear()
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        expiry = self._tokens.get(token)
        if expiry is None or expiry <= time.monotonic():
            stats.unauthorised += 1
            return self._answer({"message": "Unauthenticated."}, 401)
        if self._random.random() < config.fail_before:
            stats.failed_before += 1
            return self._answer({"message": "Service Unavailable"}, 503)
        try:
            body = await request.json()
        except ValueError:
            return self._answer({"message": "The request body is not valid JSON."}, 400)
        errors = self._check(body)
        if errors:
            stats.rejected += 1
            return self._answer({"message": "The given data was invalid.", "errors": errors}, 422)

        record = self._apply(body)
        if self._random.random() < config.fail_after:
            stats.failed_after += 1
            return self._answer({"message": "Server Error"}, 500)
        if self._random.random() < config.drop_after:
            stats.dropped_after += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # ends the handler without an answer
        return self._answer({"data": record}, 200)

    def _budget(self, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.config.rate_limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
        }

    def _answer(
        self, body: dict[str, Any], status: int, headers: dict[str, str] | None = None
    ) -> web.Response:
        key = str(status)
        self.stats.by_status[key] = self.stats.by_status.get(key, 0) + 1
        return web.json_response(body, status=status, headers=headers)

    def _check(self, body: Any) -> dict[str, list[str]]:
        """The schema's rules on one payload, worded like the real API."""
        if not isinstance(body, dict):
            return {"body": ["The body must be a JSON object."]}
        errors: dict[str, list[str]] = {}
        for rule in self._rules:
            value = body.get(rule.name)
            label = rule.name.replace("_", " ")
            if value is None or value == "":
                if rule.required:
                    errors[rule.name] = [f"The {label} field is required."]
                continue
            if not isinstance(value, str):
                errors[rule.name] = [f"The {label} must be a string."]
            elif rule.max_length is not None and len(value) > rule.max_length:
                errors[rule.name] = [
                    f"The {label} may not be greater than {rule.max_length} characters."
                ]
            elif rule.timestamp_format is not None and not _is_timestamp(
                value, rule.timestamp_format
            ):
                errors[rule.name] = [f"The {label} does not match the format Y-m-d H:i:s."]
        info = body.get("additional_information_object")
        if info is not None and (
            not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values())
        ):
            errors["additional_information_object"] = [
                "The additional information object must be an object of texts."
            ]
        contact = body.get("contact")
        if (
            isinstance(contact, str)
            and "contact" not in errors
            and (
                not _CONTACT.match(contact)
                or contact.lower().endswith("@" + UNKNOWN_CONTACT_DOMAIN)
            )
        ):
            errors["contact"] = ["The selected contact is invalid."]
        return errors

    def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        stats = self.stats
        stats.applied += 1
        reference: str | None = body.get("reference") or None
        existing = self.activities.get(reference) if reference else None
        if existing is None or reference is None:
            self._next_id += 1
            activity_id = self._next_id
            reference = reference or str(activity_id)
            stats.created += 1
            self.creations[reference] += 1
            if self.creations[reference] > 1:
                stats.duplicates += 1
        else:
            activity_id = existing["id"]
            stats.updated += 1
        record = {
            "id": activity_id,
            "reference": reference,
            "classification_id": 3,
            "account_id": 10000 + zlib.crc32(str(body.get("account")).encode()) % 9000,
            "contact_id": 20000 + zlib.crc32(body["contact"].encode()) % 9000
            if body.get("contact")
            else None,
        }
        self.activities[reference] = {**body, "id": activity_id, "reference": reference}
        return record

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))

    async def _get_activity(self, request: web.Request) -> web.Response:
        activity = self.activities.get(request.match_info["reference"])
        if activity is None:
            return web.json_response({"message": "Not found."}, status=404)
        return web.json_response({"data": activity})


def _is_timestamp(value: str, form: str) -> bool:
    try:
        datetime.datetime.strptime(value, form)
    except ValueError:
        return False
    return len(value) == 19  # strptime also takes one-digit months and hours


@dataclass
class RunningSandbox:
    """A sandbox listening on 127.0.0.1."""

    sandbox: Sandbox
    port: int
    runner: web.AppRunner

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/activities"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start(config: SandboxConfig | None = None, port: int = 0) -> RunningSandbox:
    """Start a sandbox on 127.0.0.1 in the running event loop (port 0 = any free port)."""
    sandbox = Sandbox(config)
    runner = web.AppRunner(sandbox.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    try:
        await site.start()
    except BaseException:  # e.g. the port is taken: nothing is left half set up
        await runner.cleanup()
        raise
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return RunningSandbox(sandbox, bound, runner)


@contextmanager
def serve_in_thread(config: SandboxConfig | None = None, port: int = 0) -> Iterator[RunningSandbox]:
    """Run a sandbox in a background thread with its own event loop (for tests)."""
    loop = asyncio.new_event_loop()
    ready: dict[str, RunningSandbox] = {}
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        ready["server"] = loop.run_until_complete(start(config, port))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="sandbox", daemon=True)
    thread.start()
    started.wait(10)
    running = ready["server"]
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def serve_forever(
    config: SandboxConfig, port: int, listening: Callable[[RunningSandbox], None]
) -> None:
    """Serve until cancelled (``cg-import sandbox``); ``listening`` is told once the port is
    held, so that nothing is announced for a port that could not be had."""
    running = await start(config, port)
    # The sandbox is also a measuring instrument (arrivals per second): a full garbage
    # collection pause (~50 ms once thousands of activities are stored) bunches the
    # arrival times it records. Leave start-up objects out of collections and collect
    # the old generation rarely; the stored activities hold no reference cycles.
    gc.freeze()
    gc.set_threshold(10_000, 50, 1_000)
    try:
        listening(running)
        await asyncio.Event().wait()
    finally:
        await running.close()
