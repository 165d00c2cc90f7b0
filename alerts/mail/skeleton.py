"""An item's email as wire bytes with per-recipient slots: built once, filled per recipient.

Building a MIME message with the ``email`` package costs about a millisecond, more
than everything else a recipient costs together. The parts that are the same for
every recipient (most headers, the MIME structure, the quoted-printable bodies)
are encoded once per item and language here; each recipient then costs a few
header lines and the quoted-printable encoding of their own values.

Quoted-printable lets us encode the pieces separately: each literal piece and
each value is encoded on its own and the pieces are joined with soft line breaks
(``=`` at the end of a line), which a decoder removes. So the bytes decode to
exactly the text a single encoding of the whole body would give.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from email.policy import compat32
from email.utils import formataddr
from functools import cached_property

from alerts.mail.dkim import relaxed_lines

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
# RFC 2045: encoded lines of at most 76 characters; 75 leaves room for a soft break.
_QP_LINE = 75
# 45 bytes of UTF-8 are 60 base64 characters: with "=?utf-8?b?", "?=" and the
# folding space, 73 ≤ 76.
_WORD_BYTES = 45
WIRE_POLICY = compat32.clone(linesep="\r\n")


def qp_encode(text: str) -> bytes:
    """Quoted-printable (RFC 2045) of UTF-8 text, CRLF line ends, every line ≤ 76.

    binascii does the work in C. Its lines can reach 77 or 78 characters when a
    line ends in whitespace, so long lines are cut again here; the last line
    (which a piece may end with) is kept to 75, so a joining soft break fits.
    """
    if (
        len(text) <= _QP_LINE
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and not text.endswith(" ")
        and text != "."  # binascii encodes a line that is a lone dot
    ):
        # Nothing to encode (a name, a link): quoted-printable is the text itself.
        return text.encode("ascii")
    plain = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(plain.encode("utf-8"), istext=True).replace(b"\n", CRLF)
    lines = encoded.split(CRLF)
    if len(lines[-1]) > _QP_LINE or any(len(line) > _QP_LINE + 1 for line in lines[:-1]):
        lines = [_cut(line, _QP_LINE + 1) for line in lines[:-1]] + [_cut(lines[-1], _QP_LINE)]
        encoded = CRLF.join(lines)
    return encoded


def _cut(line: bytes, limit: int) -> bytes:
    """An encoded line cut by soft breaks into lines of at most ``limit`` characters."""
    parts = []
    while len(line) > limit:
        cut = limit - 1
        while b"=" in line[cut - 2 : cut]:  # never split an "=XX" escape
            cut -= 1
        parts.append(line[:cut] + b"=")
        line = line[cut:]
    parts.append(line)
    return CRLF.join(parts)


class BodyTemplate:
    """One body part, quoted-printable, with slots where per-recipient values go."""

    def __init__(self, text: str, slot: re.Pattern[str]) -> None:
        pieces = slot.split(text)  # literal, field, literal, field, …, literal
        self.literals = [qp_encode(p) for p in pieces[0::2]]
        self.fields = pieces[1::2]

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        if not self.fields:
            return self.literals[0]
        out = [self.literals[0]]
        for field, literal in zip(self.fields, self.literals[1:], strict=True):
            out.append(values[field])
            out.append(literal)
        return SOFT_BREAK.join(out)


def encoded_words(text: str, used: int = 0) -> str:
    """RFC 2047 B-encoded words, folded, every line ≤ 76 characters (``used`` of the
    first taken by the header's name); whole characters, split at spaces where possible.

    ``email.header.Header`` does the same at ten times the cost, per recipient.
    """
    chunks: list[bytes] = []
    chunk = b""
    budget = _word_bytes(76 - used)
    for char in text:
        encoded = char.encode("utf-8")
        while len(chunk) + len(encoded) > budget and chunk:
            space = chunk.rfind(b" ", 1)
            head, chunk = (chunk[: space + 1], chunk[space + 1 :]) if space > 0 else (chunk, b"")
            chunks.append(head)
            budget = _WORD_BYTES
        chunk += encoded
    chunks.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks)


def _word_bytes(room: int) -> int:
    """UTF-8 bytes whose encoded word fits in ``room`` characters: 12 for "=?utf-8?b??=",
    four base64 characters for every three bytes."""
    return max(4, 3 * ((room - 12) // 4))


# Where email's folding may break a line (whitespace, "," and ";"), or what it would
# read as an encoded word.
_FOLDS_AT = re.compile(r"[\s,;]|=\?")


def header_line(name: str, value: str) -> bytes:
    """One header, folded; a non-ASCII value as RFC 2047 encoded words."""
    if not value.isascii():
        return f"{name}: {encoded_words(value, len(name) + 2)}".encode("ascii") + CRLF
    line = f"{name}: {value}"
    if len(line) <= 78:
        return line.encode("ascii") + CRLF
    if not _FOLDS_AT.search(value):
        # One word too long for the line (List-Unsubscribe's URL, in every email): email
        # puts it on a continuation line of its own, as here, at a fraction of the cost.
        return f"{name}: \r\n {value}".encode("ascii") + CRLF
    return WIRE_POLICY.fold_binary(name, value)  # rare: long lines, folded as email does


def address_line(name: str, display_name: str, address: str) -> bytes:
    """``To: Name <address>``: the name quoted or encoded, the address left alone."""
    if display_name.isascii():
        return header_line(name, formataddr((display_name, address)))
    words = encoded_words(display_name, len(name) + 2)
    last = words.rsplit("\r\n", 1)[-1] if "\r\n" in words else f"{name}: {words}"
    # The address on a line of its own when it would make the last line too long.
    fold = "\r\n" if len(last) + len(address) + 3 > 76 else ""
    return f"{name}: {words}{fold} <{address}>".encode("ascii") + CRLF


def _part_head(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii")


class MessageSkeleton:
    """A multipart/alternative email (text, then HTML) with per-recipient slots.

    ``fixed_headers`` are the encoded header lines that are the same for
    everyone (Subject, From, …); ``assemble`` adds the per-recipient ones.
    """

    def __init__(
        self,
        fixed_headers: bytes,
        text: str,
        html: str,
        slot: re.Pattern[str],
    ) -> None:
        self.text = BodyTemplate(text, slot)
        self.html = BodyTemplate(html, slot)
        boundary = f"=_alert_{secrets.token_hex(12)}"
        # "=_" never occurs in quoted-printable output ("=" is always followed by
        # a hex digit or a line break), so no body line can look like the boundary.
        self._head = (
            header_line("Content-Type", f'multipart/alternative; boundary="{boundary}"')
            + b"MIME-Version: 1.0\r\n"
            + fixed_headers
        )
        delimiter = f"--{boundary}".encode("ascii")
        self._before_text = CRLF + delimiter + CRLF + _part_head("plain")
        self._before_html = CRLF + delimiter + CRLF + _part_head("html")
        self._end = CRLF + delimiter + b"--" + CRLF

    def assemble(
        self,
        recipient_headers: bytes,
        text_values: Mapping[str, bytes],
        html_values: Mapping[str, bytes],
    ) -> bytes:
        return b"".join(
            (
                self._head,
                recipient_headers,
                self._before_text,
                self.text.fill(text_values),
                self._before_html,
                self.html.fill(html_values),
                self._end,
            )
        )

    @cached_property
    def _canonical_parts(self) -> list[bytes | tuple[bool, str]]:
        """The body as DKIM's relaxed canonicalisation sees it: the fixed runs of lines
        already canonical, and (html?, field) where a recipient's value goes.

        Each value is joined by soft breaks, so it starts a line and its soft break
        ends one: the fixed runs between values are whole lines, canonicalised once
        per item (``relaxed_lines``), and the body ends with the closing delimiter, a
        non-empty line, so no empty line at the end needs the whole body either.
        """
        parts: list[bytes | tuple[bool, str]] = []
        fixed = [self._before_text[len(CRLF) :]]
        for html, template, after in (
            (False, self.text, self._before_html),
            (True, self.html, self._end),
        ):
            fixed.append(template.literals[0])
            for field, literal in zip(template.fields, template.literals[1:], strict=True):
                parts += [relaxed_lines(b"".join(fixed) + SOFT_BREAK), (html, field)]
                fixed = [literal]
            fixed.append(after)
        parts.append(relaxed_lines(b"".join(fixed)))
        return parts

    def body_hash(
        self, text_values: Mapping[str, bytes], html_values: Mapping[str, bytes]
    ) -> bytes:
        """SHA-256 of the relaxed body (DKIM's bh=) of ``assemble`` with these values:
        the item's fixed 15 KB are not canonicalised again for every recipient."""
        digest = hashlib.sha256()
        for part in self._canonical_parts:
            if isinstance(part, bytes):
                digest.update(part)
            else:
                html, field = part
                value = (html_values if html else text_values)[field]
                digest.update(relaxed_lines(value + SOFT_BREAK))
        return digest.digest()
