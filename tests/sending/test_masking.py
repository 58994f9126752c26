"""Masking the client secret and the access tokens in server text, in every form a server
may write them: a table of the forms, then random secrets in random encodings."""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import json
import random
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.masking import KEPT_TOKENS, Masker

CLIENT_ID = "demo-client"
SECRET = "s3cr/t+ k&é-N3bR6tY1uJ5c"
TOKEN = "hostile/token+Q7vX2/mK9pL4wZ8"


def masker() -> Masker:
    masker = Masker(CLIENT_ID, SECRET)
    masker.add(TOKEN)
    return masker


def b64(data: str | bytes, altchars: bytes = b"+/") -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw, altchars=altchars).decode()


def every_char_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


def php(text: str) -> str:
    """JSON's ``/`` as PHP writes it."""
    return text.replace("/", "\\/")


FORM_ENCODED = quote_plus(SECRET, safe="")


CASES = [
    # (what the server wrote, what may be shown)
    (f"token {TOKEN} refused", "token *** refused"),
    (f"token {php(TOKEN)} refused", "token *** refused"),
    (every_char_escaped(TOKEN), "***"),
    ("".join(f"\\u{ord(c):04X}" for c in TOKEN), "***"),
    ("hostile\\/tok\\u0065n+Q7vX2\\u002fmK9pL4wZ8", "***"),  # mixed forms
    (json.dumps({"s": SECRET}), '{"s": "***"}'),  # é as \u00e9
    (json.dumps({"s": SECRET}, ensure_ascii=False), '{"s": "***"}'),
    (f"?client_secret={quote_plus(SECRET)}&x=1", "?client_secret=***&x=1"),
    (f"?client_secret={quote(SECRET, safe='')}", "?client_secret=***"),
    ("?s=s3cr%2ft%2b%20k%26%c3%a9-N3bR6tY1uJ5c", "?s=***"),  # lower-case hex, %20
    ("?s=s3cr/t%2B+k%26%E9-N3bR6tY1uJ5c", "?s=***"),  # é in Latin-1
    (f"Basic {b64(f'{CLIENT_ID}:{SECRET}')}", "Basic ***"),
    (f"Basic {b64(f'{CLIENT_ID}:{FORM_ENCODED}')}", "Basic ***"),
    (f"secret {b64(SECRET)} token {b64(TOKEN)}", "secret *** token ***"),
    (f"jwt-like {b64(TOKEN, b'-_').rstrip('=')}.", "jwt-like ***."),
    (f"{{'t': {php(b64(TOKEN))}}}", "{'t': ***}"),  # base64, JSON-escaped
    ("Authorization: Bearer abc.DEF-123_~+/=", "Authorization: Bearer ***"),
    ("Authorization: bearer abc\\/def\\u002Bxyz", "Authorization: Bearer ***"),
    ("authorization=Bearer%20abc%2Fdef", "authorization=Bearer ***"),
    (f"<p>secret &quot;{html.escape(SECRET)}&quot;</p>", "<p>secret &quot;***&quot;</p>"),
    ("".join(f"&#{ord(c)};" for c in TOKEN), "***"),  # HTML references, decimal
    ("hostile&#x2F;token&#X2b;Q7vX2&#x002f;mK9pL4wZ8", "***"),  # hex, any case and zeros
    (f"dump {SECRET.encode().hex()} / {TOKEN.encode().hex().upper()}", "dump *** / ***"),
    # text without a secret is left alone
    ("Q&amp;A: &lt;b&gt; &#47; &#x2F;", "Q&amp;A: &lt;b&gt; &#47; &#x2F;"),
    ("The contact field is required.", "The contact field is required."),
    ('{"errors": {"account": ["not found"]}}', '{"errors": {"account": ["not found"]}}'),
    ("s3cr/t+ k&é-N3bR6tY1uJ5", "s3cr/t+ k&é-N3bR6tY1uJ5"),  # one character short
    ("", ""),
]


@pytest.mark.parametrize(("written", "shown"), CASES)
def test_every_form_of_a_secret_is_masked(written, shown):
    assert masker()(written) == shown


@pytest.mark.parametrize("before", ['{"token": "', '{"t":"', '{"tk":"'])
def test_a_token_inside_base64_of_a_longer_text_is_masked_at_any_offset(before):
    written = b64(before + TOKEN + '"}')
    masked = masker()(written)
    assert "***" in masked
    assert not any(TOKEN.encode() in piece for piece in base64_pieces(masked)), masked
    # what is left: the groups mixing the token's first and last bytes with the text's
    assert len(masked) <= len(written) - 4 * (len(TOKEN) - 4) // 3 + 3


def test_strings_decoded_from_json_are_masked_again():
    # escapes whose pieces are escaped themselves: the backslash as \u005c, a URL-encoded
    # token with every character \u-escaped; only decoding the JSON shows the secret
    hidden_backslash = "".join(f"\\u005cu{ord(char):04x}" for char in TOKEN)
    hidden_percent = every_char_escaped(quote(SECRET, safe=""))
    written = f'{{"message": "{hidden_backslash}", "{hidden_percent}": [3, null]}}'
    mask = masker()
    assert mask(written) == written  # the raw text shows neither in a form masking knows
    assert mask.decoded(json.loads(mask(written))) == {"message": "***", "***": [3, None]}


def test_a_location_is_masked_again_once_decoded():
    mask = masker()
    twice = quote_plus(quote_plus(SECRET))  # the space: "+", then "%2B", a plain "+"
    assert mask(twice) == twice
    assert mask.url(f"https://elsewhere.example/?s={twice}") == "https://elsewhere.example/?s=***"
    plain = "https://elsewhere.example/cb?a=b%20c&d=%2F"
    assert mask.url(plain) == plain  # no secret: shown as it came
    assert mask.url("") == ""


def test_a_token_added_later_is_masked_from_then_on():
    mask = Masker(CLIENT_ID, SECRET)
    assert mask(f"x {TOKEN.replace('/', '%2F')}") == f"x {TOKEN.replace('/', '%2F')}"
    mask.add(TOKEN)
    assert mask(f"x {TOKEN.replace('/', '%2F')}") == "x ***"
    assert TOKEN not in repr(mask) and SECRET not in repr(mask)


# --- random secrets, random encodings ---------------------------------------------------------


def json_mixed(text: str, rnd: random.Random) -> str:
    """A JSON string literal writing each character in a form picked at random."""
    out = []
    for char in text:
        forms = [f"\\u{ord(char):04x}", f"\\u{ord(char):04X}"] if ord(char) <= 0xFFFF else []
        forms.append(json.dumps(char)[1:-1])  # \uD83D\uDE00 for a character beyond the BMP
        if char == "/":
            forms.append("\\/")
        out.append(rnd.choice(forms))
    return '"' + "".join(out) + '"'


def url_mixed(text: str, rnd: random.Random) -> str:
    """Form-encoding with each character raw (where safe), %XX, %xx or + picked at random."""
    out = []
    for char in text:
        encoded = quote(char, safe="")
        forms = [encoded, encoded.lower()]
        if char == " ":
            forms.append("+")
        out.append(rnd.choice(forms))
    return "".join(out)


def json_shown(masked: str) -> str:
    """What ``answers.Answer`` shows: the decoded JSON, or the masked text if it is no JSON."""
    try:
        return str(json.loads(masked))
    except ValueError:
        return masked


#: (write the text as a server would, read back what the analyst would see)
ENCODINGS: dict[str, tuple[Callable[[str, random.Random], str], Callable[[str], str]]] = {
    "json": (lambda text, _: json.dumps(text), json_shown),
    "json utf-8": (lambda text, _: json.dumps(text, ensure_ascii=False), json_shown),
    "json php": (lambda text, _: json.dumps(text).replace("/", "\\/"), json_shown),
    "json mixed": (json_mixed, json_shown),
    "url": (lambda text, _: quote(text, safe=""), unquote_plus),
    "url form": (lambda text, _: quote_plus(text, safe=""), unquote_plus),
    "url mixed": (url_mixed, unquote_plus),
}


def base64_pieces(masked: str) -> list[bytes]:
    """Every run of base64 left in ``masked``, decoded at each of its four alignments."""
    found = []
    for run in re.findall(r"[A-Za-z0-9+/_-]+", masked):
        for start in range(4):
            piece = run[start:]
            piece = piece[: len(piece) // 4 * 4].replace("-", "+").replace("_", "/")
            with contextlib.suppress(binascii.Error):
                found.append(base64.b64decode(piece))
    return found


# "*" is what masking writes: a secret holding it could be spelled anew by the mask itself
SECRETS = st.text(min_size=8, max_size=40).filter(lambda secret: "*" not in secret)
AROUND = st.text(max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    secret=SECRETS,
    before=AROUND,
    after=AROUND,
    encoding=st.sampled_from(list(ENCODINGS)),
    rnd=st.randoms(use_true_random=False),
)
def test_a_random_secret_in_any_encoding_never_shows(secret, before, after, encoding, rnd):
    write, read = ENCODINGS[encoding]
    written = write(before + secret + after, rnd)
    masked = Masker(CLIENT_ID, secret)(written)
    assert secret not in masked
    assert secret not in read(masked)


@settings(max_examples=40, deadline=None)
@given(secret=SECRETS, before=AROUND, after=AROUND, urlsafe=st.booleans())
def test_a_random_secret_inside_base64_never_shows(secret, before, after, urlsafe):
    written = b64(before + secret + after, b"-_" if urlsafe else b"+/")
    masked = Masker(CLIENT_ID, secret)(written)
    assert not any(secret.encode() in piece for piece in base64_pieces(masked)), masked


@settings(max_examples=40, deadline=None)
@given(
    # a secret with a digit or a capital cannot appear, in any form, in text that has
    # neither of these, nor "%" or "\" to write them with
    secret=st.tuples(SECRETS, st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")).map("".join),
    text=st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,:;!?()'\"-_\n\t{}[]é€😀"),
)
def test_text_without_the_secret_is_left_alone(secret, text):
    if "bearer" in text.lower():
        return  # a bearer value is masked even when it is no secret of ours
    assert Masker(CLIENT_ID, secret)(text) == text


def test_a_run_that_renews_its_token_hundreds_of_times_masks_the_latest_at_little_cost():
    """Each token's pattern is built once, alone: a run that renews its token every few
    requests (a revoking server) does not rebuild one pattern of every token ever held
    (that took a 5,000-row run from seconds to ten minutes)."""
    masking = Masker(CLIENT_ID, SECRET)
    tokens = [f"tok-{n:04d}-Q7vX2/mK9pL4wZ8" for n in range(40)]
    for token in tokens:
        masking.add(token)
    assert repr(masking) == f"Masker({1 + KEPT_TOKENS} secrets)"
    for token in [*tokens[-KEPT_TOKENS:], SECRET]:
        assert masking(f"echo {php(token)} and {quote_plus(token)}") == "echo *** and ***"
