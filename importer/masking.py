"""The secrets of one run (the client secret, every access token), masked in server text in
every form a server may write them.

A server that echoes what it was sent rarely echoes it verbatim: PHP's ``json_encode``
writes ``/`` as ``\\/``, other encoders write any character as ``\\uXXXX``, a redirect's
``Location`` carries a form body URL-encoded (``%2F`` or ``%2f``, ``+`` for a space, UTF-8
bytes), an HTML error page writes ``&#47;``, ``&#x2F;`` or ``&amp;``, a dump shows the
bytes in hex, and an ``Authorization: Basic`` header is base64 of ``client_id:client_secret``.
So each secret becomes one pattern in which every character may appear in any of its
encodings, mixed freely; base64 forms (the secret alone, at any offset inside a longer
base64 text, and HTTP Basic) become branches of it the same way. The pattern is built once,
when a text that could hold an encoded form first comes: a text without a single escape
character (``\\ % & +``, most answers) can only hold the forms as they are, and is matched
against them alone. Text decoded from an answer (JSON strings,
a URL) is masked again after decoding (``decoded``, ``url``): an escape inside an escape
only shows once the outer one is gone.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from typing import Any
from urllib.parse import quote_plus, unquote_plus

MASK = "***"
#: a bearer value, also JSON-escaped or URL-encoded, even of a token this run never held
_BEARER = re.compile(
    r"(?i)\bbearer(?:\s|\\u0020|%20|\+)+"
    r"(?:[A-Za-z0-9._~+/=-]|\\/|\\u[0-9a-f]{4}|%[0-9a-f]{2})+"
)
#: JSON's two-character escapes
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_JSON_SHORT |= {"\r": "\\r", "\t": "\\t"}
#: HTML's named references of the characters an HTML page must escape
_HTML_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
#: base64 shorter than this (from a short secret) would mask ordinary words
_MIN_BASE64 = 8
#: the characters every encoding of a character but the raw one starts with or holds
#: (JSON's and URL-encoding's escapes, a space as "+", HTML's references): a text with
#: none of them can only hold a secret's forms as they are
_ESCAPING = re.compile(r"[\\%&+]")


#: access tokens masked besides the client secret: the latest (a server echoes what a
#: request carried, and requests carry only the current token, or the one just renewed)
KEPT_TOKENS = 8


class Masker:
    """Replaces the client secret and every access token with ``***`` in any text."""

    def __init__(self, client_id: str = "", client_secret: str = "") -> None:
        # a secret -> its forms, and their pattern once a text long enough to hold one of
        # them comes (compiling one costs ~0.1 s: a run whose answers carry only short IDs
        # never pays it, nor a token renewed before any long text came)
        self._forms: dict[str, list[str]] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._literal: dict[str, re.Pattern[str]] = {}  # the forms as they are only
        self._order: list[str] = []  # longest secret first
        self._tokens: deque[str] = deque()  # added later, oldest first
        if client_secret:
            forms = _forms(client_secret)
            # HTTP Basic: base64 of the id and secret, as they are and form-encoded (RFC 6749)
            encoded = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
            for pair in (f"{client_id}:{client_secret}", encoded):
                forms.append(_base64(pair.encode(), "+/"))
            self._keep(client_secret, forms)

    def __repr__(self) -> str:
        return f"Masker({len(self._forms)} secrets)"

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on, in every form (its pattern is built once, when a
        text first could hold it; the oldest token beyond ``KEPT_TOKENS`` is let go, so a
        run that renews its token hundreds of times pays for masking no more than a few)."""
        if secret and secret not in self._forms:
            self._keep(secret, _forms(secret))
            self._tokens.append(secret)
            if len(self._tokens) > KEPT_TOKENS:
                oldest = self._tokens.popleft()
                for table in (self._forms, self._patterns, self._literal):
                    table.pop(oldest, None)
                self._order = self._ordered()

    def __call__(self, text: str) -> str:
        """``text`` with every form of every secret, and any bearer value, masked."""
        if not text:
            return text
        # a text without escapes (most answers) is matched against the forms as they are:
        # the same matches, without compiling a pattern of every encoding
        pattern = self._pattern if _ESCAPING.search(text) else self._plain
        for secret in self._order:
            # every character of a form matches one character or more of the text: a
            # text shorter than a secret's shortest form cannot hold it
            if len(text) >= len(self._forms[secret][-1]):  # forms: longest first
                text = pattern(secret).sub(MASK, text)
        return _BEARER.sub(f"Bearer {MASK}", text)

    def decoded(self, value: Any) -> Any:
        """A decoded JSON value with every string in it (keys too) masked."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(key)): self.decoded(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.decoded(item) for item in value]
        return value

    def url(self, text: str) -> str:
        """A URL (a ``Location``) masked, and masked again once percent-decoded: a secret
        encoded twice (``%252F``, ``%5Cu002F``) is then shown decoded and masked."""
        masked = self(text)
        decoded = unquote_plus(masked)
        again = self(decoded)
        if again == decoded:
            return masked
        return "".join(char if char.isprintable() else "?" for char in again)

    def _keep(self, secret: str, forms: list[str]) -> None:
        self._forms[secret] = _unique(forms)
        self._order = self._ordered()

    def _pattern(self, secret: str) -> re.Pattern[str]:
        pattern = self._patterns.get(secret)
        if pattern is None:
            pattern = self._patterns[secret] = _compile(self._forms[secret])
        return pattern

    def _plain(self, secret: str) -> re.Pattern[str]:
        pattern = self._literal.get(secret)
        if pattern is None:
            forms = self._forms[secret]  # longest first, as in the whole pattern
            pattern = self._literal[secret] = re.compile("|".join(map(re.escape, forms)))
        return pattern

    def _ordered(self) -> list[str]:
        # the longer secret first: masking a shorter one inside it must not hide the rest
        return sorted(self._forms, key=len, reverse=True)


def _forms(secret: str) -> list[str]:
    """The texts a secret may be written as before any escaping: itself, its bytes in hex,
    and base64 (alone, padded or not, and at any offset inside a longer base64 text)."""
    data = secret.encode()
    forms = [secret, data.hex(), data.hex().upper()]  # hex: as a server dumps bytes
    for alphabet in ("+/", "-_"):
        alone = _base64(data, alphabet)
        forms += [alone, alone.rstrip("=")]  # unpadded: as JWTs write it
        for skip in range(3):  # where it falls in the 3-byte groups of a longer text
            whole_groups = data[skip:][: (len(data) - skip) // 3 * 3]
            forms.append(_base64(whole_groups, alphabet))
    return forms


def _unique(forms: list[str]) -> list[str]:
    """``forms`` once each, longest first: of two forms that overlap, the whole of the
    longer is masked."""
    return sorted({form for form in forms if form}, key=len, reverse=True)


def _compile(unique: list[str]) -> re.Pattern[str]:
    """One pattern for ``unique`` (longest first), each character in any of its encodings."""
    # every match starts with a form's first character raw, or with "\", "%", "+" or "&"
    # (an escape, a space, an HTML reference): looking ahead for one skips most places
    # ~50x faster than trying each form's alternatives there
    starts = {form[0] for form in unique} | {"\\", "%", "+", "&"}
    ahead = "".join(re.escape(char) for char in sorted(starts))
    branches = "|".join("".join(_any_encoding(char) for char in form) for form in unique)
    return re.compile(f"(?=[{ahead}])(?:{branches})")


def _base64(data: bytes, alphabet: str) -> str:
    """``data`` in base64 (with its padding), or "" if too short to tell from a word."""
    if len(data) * 4 // 3 < _MIN_BASE64:
        return ""
    return base64.b64encode(data, altchars=alphabet.encode()).decode()


#: the backslash that starts a JSON escape: doubled by each JSON around it, maybe URL-encoded
_BACKSLASH = r"(?:\\|%(?:25)*5[cC])+"
#: the percent sign of URL-encoding: encoded again (%25) or JSON-escaped around it
_PERCENT = rf"(?:%|{_BACKSLASH}u0025)(?:25)*"


def _any_encoding(char: str) -> str:
    """A pattern for ``char`` raw, JSON-escaped or URL-encoded (hex digits in any case),
    also when that escape was escaped again (JSON in JSON, URL in URL, one in the other)."""
    forms = [re.escape(char)]
    if char in _JSON_SHORT:
        forms.append(_BACKSLASH + re.escape(_JSON_SHORT[char][1]))
    code = ord(char)
    if code > 0xFFFF:  # JSON writes it as a surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(f"{_BACKSLASH}u{_hex(f'{high:04x}')}{_BACKSLASH}u{_hex(f'{low:04x}')}")
    else:
        forms.append(f"{_BACKSLASH}u{_hex(f'{code:04x}')}")
    forms.append("".join(f"{_PERCENT}{_hex(f'{byte:02x}')}" for byte in char.encode()))
    if 0x80 <= code <= 0xFF:  # percent-encoded as Latin-1, as old servers do
        forms.append(f"{_PERCENT}{_hex(f'{code:02x}')}")
    if char == " ":
        forms.append(r"\+")
    # an HTML page's character references: &#47; &#x2F; (any zeros, any case), &amp; …
    forms.append(f"&#0*{code};|&#[xX]0*{_hex(f'{code:x}')};")
    if char in _HTML_NAMED:
        forms.append(re.escape(_HTML_NAMED[char]))
    return f"(?:{'|'.join(forms)})"


def _hex(digits: str) -> str:
    """Hex digits matching upper or lower case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)
