"""The per-item skeleton's encoders, against the standard library's decoders."""

from __future__ import annotations

import base64
import binascii
import random
from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest

from alerts.mail.skeleton import SOFT_BREAK, address_line, encoded_words, header_line, qp_encode

ALPHABET = "abc xyz  \t.=-éñü“”🎉€\n"
AWKWARD = [
    "x" * 74 + " \nnext",  # binascii alone makes a 77-character line of this
    "x" * 75 + "\t\nnext",
    "y" * 73 + "é",
    "." + "\n." * 3,
    "=" * 40,
    " " * 100,
    "",
]


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return AWKWARD + [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 300))) for _ in range(count)
    ]


def _lines_fit(encoded: bytes) -> None:
    lines = encoded.split(b"\r\n")
    assert all(len(line) <= 76 for line in lines), max(lines, key=len)
    assert len(lines[-1]) <= 75  # room for the soft break that joins the next piece
    assert b"\n" not in encoded.replace(b"\r\n", b"") and b"\r" not in encoded.replace(b"\r\n", b"")


@pytest.mark.parametrize("text", _texts(400, seed=7))
def test_quoted_printable_decodes_to_the_text_with_short_lines(text: str) -> None:
    encoded = qp_encode(text)
    _lines_fit(encoded)
    expected = text.replace("\n", "\r\n").encode()
    assert binascii.a2b_qp(encoded) == expected


def test_pieces_joined_by_soft_breaks_decode_as_the_whole() -> None:
    rng = random.Random(11)
    for _ in range(300):
        pieces = [t for t in _texts(0, 0) if t] + [
            "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 120))) for _ in range(3)
        ]
        rng.shuffle(pieces)
        joined = SOFT_BREAK.join(qp_encode(p) for p in pieces)
        _lines_fit(joined)
        assert binascii.a2b_qp(joined) == "".join(pieces).replace("\n", "\r\n").encode()


@pytest.mark.parametrize(
    "value",
    [
        "Παπαδοπούλου-Κωνσταντινίδου Αικατερίνη Μαρία",
        "李小龙" * 20,
        "José Núñez “el periodista” 🎉 " * 4,
        "é",
    ],
)
@pytest.mark.parametrize("name", ["To", "Subject", "List-Unsubscribe-Post"])
def test_encoded_words_fit_the_line_and_decode_exactly(name: str, value: str) -> None:
    line = header_line(name, value)
    assert all(len(part) <= 76 for part in line.split(b"\r\n")), line
    words = line.decode("ascii").split(":", 1)[1].replace("\r\n", "")
    assert str(make_header(decode_header(words))) == value


def test_long_names_are_split_at_spaces_not_inside_a_word() -> None:
    # (A single word longer than an encoded word can hold still has to be cut.)
    words = encoded_words("Παπαδοπούλου Κωνσταντινίδου Αικατερίνη Μαρία Ελένη", len("To: "))
    decoded = [base64.b64decode(w[10:-2]).decode() for w in words.split("\r\n ")]
    assert len(decoded) > 1 and all(part.endswith(" ") for part in decoded[:-1]), decoded


def test_a_long_non_ascii_name_and_its_address_parse_strictly() -> None:
    name = "Παπαδοπούλου-Κωνσταντινίδου Αικατερίνη"
    raw = address_line("To", name, "a.very.long.address.for.a.journalist@newsroom.example")
    assert all(len(part) <= 76 for part in raw.split(b"\r\n")), raw
    message = message_from_bytes(raw + b"Subject: x\r\n\r\nbody\r\n", policy=policy.strict)
    [address] = message["To"].addresses
    assert address.addr_spec == "a.very.long.address.for.a.journalist@newsroom.example"
    assert address.display_name.replace(" ", "") == name.replace(" ", "")


@pytest.mark.parametrize(
    "value",
    [
        "<https://alerts.example.org/u/MTIzNDU2Nzg5.axA1zQ.6i0399y9batyHLQH5ko7tcoUEx4>",
        "<https://x.example/u/" + "b" * 300 + ">",
        "<https://x.example/u/ab,cd;ef " + "c" * 70 + ">",  # places email may break at
        "<https://x.example/u/" + "d" * 50 + "> <mailto:unsubscribe@x.example>",
        "=?utf-8?q?looks_encoded?=" + "e" * 70,
        "<" + "f" * 70 + "@ngo.example>",
    ],
)
def test_a_long_header_is_folded_exactly_as_email_folds_it(value: str) -> None:
    # The shortcut for one unbreakable word must give the email package's very bytes.
    expected = policy.compat32.clone(linesep="\r\n").fold_binary("List-Unsubscribe", value)
    assert header_line("List-Unsubscribe", value) == expected


def test_random_unbreakable_header_values_fold_as_email_does() -> None:
    rng = random.Random(20)
    alphabet = "abcXYZ0189-_.~:/?#[]@!$&'()*+=%<>\"{}|\\^`"
    folding = policy.compat32.clone(linesep="\r\n")
    for _ in range(500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(60, 300)))
        assert header_line("Message-ID", value) == folding.fold_binary("Message-ID", value)


def test_short_plain_values_encode_as_binascii_encodes_them() -> None:
    # Names and links take a shortcut when there is nothing to encode: the same bytes.
    rng = random.Random(2045)
    alphabet = "aZ09 .-_~/:?#@&<>'\"=\t\xe9\u20ac\x7f\x01"
    for _ in range(20000):
        short = rng.random() < 0.7  # edge cases live in short values: ".", " ", "a "
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6 if short else 80)))
        reference = binascii.b2a_qp(value.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
        if max((len(line) for line in reference.split(b"\r\n")), default=0) <= 75:
            assert qp_encode(value) == reference, value
