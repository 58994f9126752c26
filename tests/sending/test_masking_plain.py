"""A text without escape characters is masked against a secret's forms as they are
(``masking.Masker``): the same result as the pattern of every encoding, which it never
builds (compiling it costs ~0.1 s a secret, and most answers hold no escape)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from importer.masking import Masker, _forms

CLIENT_ID = "client-7"
#: texts and secrets made of anything but the escape characters \\ % & + (and "*", the mask)
_PLAIN = st.characters(blacklist_characters="\\%&+*", blacklist_categories=("Cs",))


@settings(max_examples=15, deadline=None)
@given(
    secret=st.text(_PLAIN, min_size=8, max_size=30),
    before=st.text(_PLAIN, max_size=20),
    after=st.text(_PLAIN, max_size=20),
    form=st.integers(min_value=0, max_value=12),
)
def test_a_plain_text_is_masked_as_the_whole_pattern_masks_it(secret, before, after, form):
    forms = [f for f in _forms(secret) if f and "+" not in f]  # base64 may hold a "+"
    text = before + forms[form % len(forms)] + after  # the secret, its hex or its base64
    plain = Masker(CLIENT_ID, secret)
    masked = plain(text)
    assert plain._patterns == {}  # the pattern of every encoding was never built
    whole = Masker(CLIENT_ID, secret)
    assert whole._pattern(secret).sub("***", text) == whole(text + "%")[:-1] == masked
    assert secret not in masked


def test_an_escape_anywhere_in_the_text_uses_the_whole_pattern():
    secret = "s3cr3t/Value"
    masking = Masker(CLIENT_ID, secret)
    assert masking('{"error": "s3cr3t\\/Value"}') == '{"error": "***"}'
    assert masking("bad secret: s3cr3t%2FValue&x=1") == "bad secret: ***&x=1"
    assert masking("plain: s3cr3t/Value") == "plain: ***"
