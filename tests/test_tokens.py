import contextlib

import pytest
from itsdangerous import URLSafeTimedSerializer

from alerts.core.tokens import InvalidToken, Purpose, TokenSigner

SECRET = "a-secret-that-is-long-enough"


def test_token_round_trip_carries_no_address() -> None:
    signer = TokenSigner(SECRET)
    token = signer.sign(Purpose.UNSUBSCRIBE, 42)
    assert signer.read(Purpose.UNSUBSCRIBE, token) == 42
    assert "@" not in token


def test_token_is_scoped_to_its_purpose() -> None:
    signer = TokenSigner(SECRET)
    token = signer.sign(Purpose.CONFIRM, 7)
    with pytest.raises(InvalidToken):
        signer.read(Purpose.UNSUBSCRIBE, token)
    with pytest.raises(InvalidToken):
        signer.read(Purpose.PREFERENCES, signer.sign(Purpose.UNSUBSCRIBE, 7))


def test_forged_or_altered_tokens_are_refused() -> None:
    signer = TokenSigner(SECRET)
    token = signer.sign(Purpose.UNSUBSCRIBE, 7)
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (
        altered,
        "garbage",
        "",
        TokenSigner("another-secret-entirely").sign(Purpose.UNSUBSCRIBE, 7),
    ):
        with pytest.raises(InvalidToken):
            signer.read(Purpose.UNSUBSCRIBE, bad)


def test_payload_must_be_a_journalist_id() -> None:
    forged = URLSafeTimedSerializer(SECRET, salt="newsroom-alerts.unsubscribe").dumps("7")
    with pytest.raises(InvalidToken):
        TokenSigner(SECRET).read(Purpose.UNSUBSCRIBE, forged)


def test_confirm_tokens_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = TokenSigner(SECRET)
    token = signer.sign(Purpose.CONFIRM, 7)
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 8 * 24 * 3600)
    with pytest.raises(InvalidToken, match="expired"):
        signer.read(Purpose.CONFIRM, token)
    assert signer.read(Purpose.UNSUBSCRIBE, signer.sign(Purpose.UNSUBSCRIBE, 7)) == 7


def _decodable_parts(token: str) -> bytes:
    """Whatever base64 (and zlib) decoding of the token's parts reveals."""
    import base64
    import zlib

    found = b""
    for part in token.split("."):
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except ValueError:
            continue
        found += raw
        with contextlib.suppress(zlib.error):
            found += zlib.decompress(raw)
    return found


def test_confirm_token_is_opaque_and_carries_the_request() -> None:
    signer = TokenSigner(SECRET)
    request = {"n": "Zebulon Quuxley", "o": "Quux Wire", "z": "Asia/Kathmandu", "t": ["asylum"]}
    token = signer.sign(Purpose.CONFIRM, 7, request)
    revealed = _decodable_parts(token)
    for typed in (b"Zebulon", b"Quux", b"Kathmandu", b"asylum"):
        assert typed not in revealed
    journalist_id, carried, _ = signer.read_with_request(Purpose.CONFIRM, token)
    assert (journalist_id, carried) == (7, request)
    # Sealed under a key of its own: no other purpose or secret opens it.
    with pytest.raises(InvalidToken):
        signer.read(Purpose.PREFERENCES, token)
    with pytest.raises(InvalidToken):
        TokenSigner("another-secret-entirely").read(Purpose.CONFIRM, token)
    for bad in (token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"), token[:40], "ñandú"):
        with pytest.raises(InvalidToken, match="not valid"):
            signer.read(Purpose.CONFIRM, bad)


def test_confirm_links_signed_before_sealing_still_work() -> None:
    request = {"n": "Ana", "c": ["MX"]}
    old = URLSafeTimedSerializer(SECRET, salt="newsroom-alerts.confirm").dumps([7, request])
    assert TokenSigner(SECRET).read_with_request(Purpose.CONFIRM, old)[:2] == (7, request)


def test_preference_links_expire_but_unsubscribe_links_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = TokenSigner(SECRET, preferences_max_age=30 * 24 * 3600)
    preferences = signer.sign(Purpose.PREFERENCES, 7)
    unsubscribe = signer.sign(Purpose.UNSUBSCRIBE, 7)
    assert signer.read(Purpose.PREFERENCES, preferences) == 7
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 91 * 24 * 3600)
    with pytest.raises(InvalidToken, match="expired"):
        signer.read(Purpose.PREFERENCES, preferences)
    assert signer.read_expired(Purpose.PREFERENCES, preferences) == 7  # to mail a fresh one
    assert signer.read(Purpose.UNSUBSCRIBE, unsubscribe) == 7  # RFC 8058: years later too
    assert TokenSigner(SECRET).read(Purpose.UNSUBSCRIBE, unsubscribe) == 7
    with pytest.raises(InvalidToken, match="expired"):
        TokenSigner(SECRET).read(Purpose.PREFERENCES, preferences)  # the default expires too


@pytest.mark.parametrize("purpose", [Purpose.UNSUBSCRIBE, Purpose.PREFERENCES])
@pytest.mark.parametrize(
    "payload",
    [(0, None), (7, None), (999_999_999, None), (10**9, None), (42, {"digest": "daily"})],
)
def test_links_are_signed_byte_for_byte_as_itsdangerous_signs_them(
    monkeypatch: pytest.MonkeyPatch, purpose: Purpose, payload: tuple[int, dict[str, str] | None]
) -> None:
    # Links already in inboxes, and any other reader of them, know itsdangerous's format:
    # the signer's shortcuts must not change a byte of it.
    import time

    monkeypatch.setattr(time, "time", lambda: 1_764_000_000.5)
    journalist_id, request = payload
    ours = TokenSigner(SECRET).sign(purpose, journalist_id, request)
    stock = URLSafeTimedSerializer(SECRET, salt=f"newsroom-alerts.{purpose.value}")
    assert ours == stock.dumps(journalist_id if request is None else [journalist_id, request])
    assert TokenSigner(SECRET).read(purpose, ours) == journalist_id
