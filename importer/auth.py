"""OAuth2 client credentials for the Activities API, renewed before expiry.

authlib builds the token request (``client_secret_post``, as the API documents) and holds
the token (``OAuth2Token``); this module adds what authlib's aiohttp-less client lacks: an
asyncio single-flight renewal, so that 32 workers hitting a 401 at once cause one token
request, not 32, and a monotonic renewal deadline (authlib keeps expiry in whole seconds
of wall-clock time, too coarse for short-lived tokens). The secret and the tokens never
leave this object: its repr hides them and no message includes them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from .errors import AuthError

_ATTEMPTS = 4


class TokenSource:
    """Hands out a valid bearer token, fetching a new one shortly before expiry or on 401."""

    def __init__(
        self, session: aiohttp.ClientSession, token_url: str, client_id: str, client_secret: str
    ) -> None:
        self._session = session
        self._url = token_url
        self._client = ClientAuth(client_id, client_secret, "client_secret_post")
        self._token: OAuth2Token | None = None
        self._renew_at = 0.0  # monotonic; authlib's expires_at has whole-second precision
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenSource(token_url={self._url!r}, client_id=***, client_secret=***)"

    async def bearer(self) -> str:
        """A token that is not about to expire."""
        token = self._token
        if token is None or self._expiring():
            async with self._lock:
                token = self._token
                if token is None or self._expiring():
                    token = await self._fetch()
        return str(token["access_token"])

    async def renew(self, rejected: str) -> None:
        """The API said 401 to ``rejected``: fetch a new token unless a worker already did."""
        async with self._lock:
            current = self._token
            if current is None or current["access_token"] == rejected:
                await self._fetch()

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
                async with self._session.post(self._url, data=body, headers=headers) as resp:
                    status = resp.status
                    data: Any = (
                        await resp.json(content_type=None) if resp.content_length != 0 else None
                    )
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                problem = err.__class__.__name__
            else:
                if status == 200 and isinstance(data, dict) and data.get("access_token"):
                    self._token = OAuth2Token.from_dict(data)
                    lifetime = float(data.get("expires_in") or 3600)
                    # renew a minute early for long-lived tokens, a quarter of the life for short
                    self._renew_at = started + lifetime - min(60.0, lifetime / 4)
                    self.fetches += 1
                    return self._token
                if status in (400, 401, 403):
                    code = data.get("error", "refused") if isinstance(data, dict) else "refused"
                    raise AuthError(
                        f"the API refused the client credentials ({status} {code}); "
                        "check CG_CLIENT_ID and CG_CLIENT_SECRET (and --region)"
                    )
                problem = f"HTTP {status}"
            await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
        raise AuthError(
            f"cannot get an access token from {self._url} ({problem}); "
            "check the network and --region or --token-url"
        )
