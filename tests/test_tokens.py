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
