"""The outcome of one attempt to hand a message to the relay, and what follows from it.

Plain values, no I/O: the SMTP transport produces them, the delivery record,
the digests and the metrics read them. Keeping them here lets use-case code
decide retry/fail/suppress without importing the SMTP adapter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: 4xx, timeouts, dropped connections, relay trouble
    FAILED = "failed"  # permanent for this message: 5xx
    SUPPRESS = "suppress"  # permanent for the address: 5.1.x, 5.7.1 on the recipient


class Stage(StrEnum):
    """Where in the SMTP conversation a reply came: it decides whom a refusal is about."""

    CONNECT = "connect"  # greeting, EHLO, STARTTLS, AUTH: about us and the relay
    MAIL = "mail"  # MAIL FROM: about our sender address
    RCPT = "rcpt"  # RCPT TO: about this recipient
    DATA = "data"  # the message itself


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reply: str
    # The relay (not this recipient) is the trouble: the batch stops hammering it.
    relay_trouble: bool = False
    # Handed back without talking to the relay: not counted as an attempt.
    untried: bool = False
    # Handed back for a reason that is ours, not the relay's (the worker is stopping):
    # due again at once, no backoff.
    at_once: bool = False
    # Nothing of it reached the relay (its envelope went pipelined behind a message
    # whose connection then ended): the batch tries it again, nothing is recorded.
    again: bool = False


AGAIN = Outcome(
    Verdict.RETRY, "not attempted: the connection ended before it", untried=True, again=True
)


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"[:1000]


def classify(code: int, message: bytes | str, stage: Stage = Stage.RCPT) -> Outcome:
    """Decide what an SMTP reply means for the delivery.

    Only a refusal of RCPT TO speaks about the journalist's address: there the
    enhanced status code (RFC 3463) 5.1.x says the mailbox does not exist and
    5.7.1 is a policy refusal of that recipient, so the address is suppressed.
    A refusal at connect, AUTH or MAIL FROM is about our relay or sender ("relay
    access denied", "sender domain not found"): every message would meet it, so
    it is retried and the batch stops, never blamed on the recipients. Any other
    5xx fails this message only.
    """
    reply = _reply_text(code, message)
    if 200 <= code < 300:
        return Outcome(Verdict.SENT, reply)
    if stage in (Stage.CONNECT, Stage.MAIL) or code == 421:  # 421: the relay is closing on us
        return Outcome(Verdict.RETRY, f"relay: {reply}"[:1000], relay_trouble=True)
    if 400 <= code < 500:
        return Outcome(Verdict.RETRY, reply)
    detail = reply.split(" ", 2)[1] if " " in reply else ""
    if stage is Stage.RCPT and (detail.startswith("5.1.") or detail == "5.7.1"):
        return Outcome(Verdict.SUPPRESS, reply)
    return Outcome(Verdict.FAILED, reply)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    deadline_seconds: float

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter: spreads a burst of retries over time."""
        step = min(self.max_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return float(step * (rng or random).uniform(0.5, 1.0))


class Transport(Protocol):
    """What the use cases need of a mail transport: the SMTP one, or one in memory in tests."""

    def send(self, from_addr: str, to_addr: str, message: bytes) -> Outcome: ...

    def close(self) -> None: ...


class Pipeline(Protocol):
    """A batch's messages handed over one after another; outcomes as they become known.

    A message's outcome may come only with a later ``send`` or with ``flush``
    (which finishes whatever is in progress); ``take`` returns those settled so
    far, by the key ``send`` was given. An outcome with ``again`` is for a
    message of which nothing reached the relay: the caller sends it anew.
    """

    def send(self, key: int, from_addr: str, to_addr: str, message: bytes) -> None: ...

    def flush(self) -> None: ...

    def take(self) -> list[tuple[int, Outcome]]: ...


@runtime_checkable
class Pipelining(Protocol):
    """A transport that can keep the next message on the wire before the last one's reply."""

    def pipeline(self) -> Pipeline: ...
