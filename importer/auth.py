"""OAuth2 client credentials for the Activities API, renewed before expiry.

authlib builds the token request (``client_secret_post``, as the API documents) and holds
the token (``OAuth2Token``); this module adds what authlib's aiohttp-less client lacks: an
asyncio single-flight renewal, so that 32 workers hitting a 401 at once cause one token
request, not 32, and a monotonic renewal deadline (authlib keeps expiry in whole seconds
of wall-clock time, too coarse for short-lived tokens). The secret and the tokens never
leave this object: its repr hides them, no message includes them, and ``mask`` (a
``masking.Masker``) masks them in server text, in every form a server may echo them, before
anything is kept.
Redirects are never followed: a 3xx from the token URL would carry the secret elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import Any

import aiohttp
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from .errors import AuthError
from .masking import Masker

_ATTEMPTS = 4
#: fresh tokens refused in a row (401) that mean the API refuses the credentials
REFUSED_FRESH = 2
#: renewal lifetime when the token endpoint gives no usable ``expires_in``
DEFAULT_LIFETIME = 3600.0
#: OAuth2 error codes (``invalid_client``): anything else from the server is not shown
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class TokenSource:
    """Hands out a valid bearer token, fetching a new one shortly before expiry or on 401."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        retry_wait: float = 0.5,
    ) -> None:
        self._session = session
        self._retry_wait = retry_wait  # the first wait after a failed token request; doubles
        self._url = token_url
        self._client = ClientAuth(client_id, client_secret, "client_secret_post")
        self._token: OAuth2Token | None = None
        self._renew_at = 0.0  # monotonic; authlib's expires_at has whole-second precision
        self._lock = asyncio.Lock()
        #: masks the secret and every access token in any server text kept or shown
        self.mask = Masker(client_id, client_secret)
        self.fetches = 0
        self._refused = 0  # renewals in a row whose token the API refused before any success

    def __repr__(self) -> str:
        return f"TokenSource(token_url={self._url!r}, client_id=***, client_secret=***)"

    def current(self) -> str | None:
        """The token if it is not about to expire (no waiting), else None: ``bearer``."""
        token = self._token
        if token is None or self._expiring():
            return None
        return str(token["access_token"])

    async def bearer(self) -> str:
        """A token that is not about to expire."""
        found = self.current()
        if found is None:
            async with self._lock:  # one fetch for every worker that found none
                found = self.current() or str((await self._fetch())["access_token"])
        return found

    async def renew(self, rejected: str) -> None:
        """The API said 401 to ``rejected``: fetch a new token unless a worker already did.

        A token the API refused before it accepted anything, right after a renewal, means
        the credentials themselves are refused: after ``REFUSED_FRESH`` such tokens this
        raises ``AuthError`` instead of asking for more (each request carries the secret).
        """
        async with self._lock:
            current = self._token
            if current is None or current["access_token"] == rejected:
                if self._refused >= REFUSED_FRESH:
                    raise AuthError(
                        f"the API refused {self._refused} fresh access tokens in a row "
                        "(HTTP 401): the credentials were refused; check CG_CLIENT_ID and "
                        "CG_CLIENT_SECRET and that this client may import activities "
                        "(and --region)"
                    )
                self._refused += 1
                await self._fetch()

    def accepted(self, token: str) -> None:
        """The API answered a request with ``token`` without a 401: it is good."""
        if self._refused and self._token is not None and self._token["access_token"] == token:
            self._refused = 0

    def _expiring(self) -> bool:
        return time.monotonic() >= self._renew_at

    async def _fetch(self) -> OAuth2Token:
        body = prepare_token_request("client_credentials")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        _, headers, body = self._client.prepare("POST", self._url, headers, body)
        problem = "no answer"
        for attempt in range(1, _ATTEMPTS + 1):
            started = time.monotonic()
            try:
                # never follow a redirect: it would carry the client secret to another place
                async with self._session.post(
                    self._url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    status = resp.status
                    location = resp.headers.get("Location", "")
                    raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as err:
                problem = err.__class__.__name__
            else:
                data = parse_json(raw)
                if status == 200 and isinstance(data, dict) and data.get("access_token"):
                    return self._keep(data, started)
                if 300 <= status < 400:
                    raise AuthError(
                        f"the token URL answered HTTP {status}, redirecting to "
                        f"{self.mask.url(location) or '(no Location)'}; redirects are never "
                        "followed, so the credentials were not sent there: check --token-url "
                        "(or --region)"
                    )
                if status in (400, 401, 403):
                    code = data.get("error") if isinstance(data, dict) else None
                    # decoded from JSON: a secret written \u-escaped in it is plain only now
                    plain = isinstance(code, str) and _ERROR_CODE.match(code) and self.mask(code)
                    shown = code if plain == code else "refused"
                    raise AuthError(
                        f"the API refused the client credentials ({status} {shown}); "
                        "check CG_CLIENT_ID and CG_CLIENT_SECRET (and --region)"
                    )
                problem = f"HTTP {status}"
            await asyncio.sleep(min(8.0, self._retry_wait * 2 ** (attempt - 1)))
        raise AuthError(
            f"cannot get an access token from {self._url} ({problem}); "
            "check the network and --region or --token-url"
        )

    def _keep(self, data: dict[str, Any], started: float) -> OAuth2Token:
        """Hold a new token; renew it a minute early (a quarter of its life if short)."""
        lifetime = _lifetime(data.get("expires_in"))
        fields = {k: v for k, v in data.items() if k != "expires_at"}  # ours, from expires_in
        token = OAuth2Token.from_dict({**fields, "expires_in": int(lifetime)})
        self._token = token
        self.mask.add(str(token["access_token"]))
        self._renew_at = started + lifetime - min(60.0, lifetime / 4)
        self.fetches += 1
        return token


def _lifetime(expires_in: object) -> float:
    """Seconds a token lives; a missing, non-positive or non-numeric ``expires_in``: an hour."""
    try:
        seconds = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    return seconds if math.isfinite(seconds) and seconds >= 1 else DEFAULT_LIFETIME


def parse_json(raw: bytes) -> Any:
    """A body as JSON, or None: server text is never trusted to be UTF-8 or JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None
