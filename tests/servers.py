"""Small misbehaving APIs for tests: any aiohttp app served on 127.0.0.1 in a background
thread, recording every request it receives, so a test can prove what did and did not
reach a server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from importer.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

TOKEN = "hostile-token-Q7vX2mK9pL4wZ8"
#: the client secret tests set where a server would echo it
SECRET = "hostile-secret-N3bR6tY1uJ5c"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request a test server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    """A test server's base URL and every request it received."""

    url: str = ""
    requests: list[Seen] = field(default_factory=list)

    def to(self, method: str, path: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.method == method and seen.path == path]

    @property
    def puts(self) -> list[Seen]:
        return self.to("PUT", "/activities")

    @property
    def token_requests(self) -> list[Seen]:
        return self.to("POST", "/oauth2/token")

    def args(self) -> list[str]:
        """The flags that point ``run`` at this server."""
        return ["--api-url", f"{self.url}/activities", "--token-url", f"{self.url}/oauth2/token"]


@contextmanager
def serve(app: web.Application) -> Iterator[Served]:
    """Serve ``app`` on 127.0.0.1 (any free port) in a background thread with its own loop."""
    served = Served()

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        headers = {key.lower(): value for key, value in request.headers.items()}
        served.requests.append(Seen(request.method, request.path, headers, body, time.monotonic()))
        return await handler(request)

    app.middlewares.insert(0, record)
    loop = asyncio.new_event_loop()
    holder: dict[str, web.AppRunner] = {}
    started = threading.Event()

    async def start() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        served.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="test-server", daemon=True)
    thread.start()
    started.wait(10)
    assert "runner" in holder, "the test server did not start"
    try:
        yield served
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def token_endpoint(secret: str = DEMO_CLIENT_SECRET, **answer: Any) -> Handler:
    """A well-behaved token endpoint (``answer`` overrides fields of its JSON)."""

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != DEMO_CLIENT_ID or form.get("client_secret") != secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response(
            {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600, **answer}
        )

    return token


def api_app(put: Handler, token: Handler | None = None) -> web.Application:
    """An API with ``put`` as ``PUT /activities`` and ``token`` as ``POST /oauth2/token``."""
    app = web.Application()
    app.router.add_post("/oauth2/token", token or token_endpoint())
    app.router.add_put("/activities", put)
    return app


def imported(body: dict[str, Any], activity_id: int | str) -> web.Response:
    """The real API's 200 answer for ``body``."""
    return web.json_response(
        {
            "data": {
                "id": activity_id,
                "reference": body.get("reference"),
                "classification_id": 3,
                "account_id": 12345,
                "contact_id": None,
            }
        }
    )


def healthy_put() -> Handler:
    """PUT /activities as the real API answers it: 200 with ``data.id`` (for ``TOKEN`` only)."""
    ids = iter(range(5000, 10**9))

    async def put(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthenticated."}, status=401)
        return imported(await request.json(), next(ids))

    return put


#: a body that is not the UTF-8 its Content-Type says
NOT_UTF8 = b"\xff\xfe\xfa bad gateway"


def bad_gateway() -> Handler:
    """Any endpoint answering 502 with a body that is not UTF-8 (``NOT_UTF8``)."""

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            status=502, body=NOT_UTF8, headers={"Content-Type": "text/plain; charset=utf-8"}
        )

    return answer
