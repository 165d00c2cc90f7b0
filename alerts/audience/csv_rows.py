"""The journalist CSV: read and check it row by row from a byte stream; write it safely.

Rows are validated as they are read, so a file of any length needs memory for
one row at a time. Every problem of every row is collected (the first
:data:`MAX_PROBLEMS` kept in full, all of them counted); the importer writes
nothing unless there are none.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from alerts.audience.subscriptions import InvalidAddress, normalise_email
from alerts.core.i18n import LANGUAGES
from alerts.core.models import Cadence, Journalist
from alerts.core.reader_languages import unknown_language
from alerts.core.taxonomy import Taxonomy, TaxonomyError, countries, regions
from alerts.digests.schedule import InvalidSchedule, check_zone

CSV_COLUMNS = ("email", "name", "outlet", "countries", "topics", "cadence")
# Later additions: a file without them still imports (an empty or absent cell
# keeps what a known journalist has, and the model's default for a new one).
OPTIONAL_COLUMNS = ("language", "timezone")
EXPORT_COLUMNS = (*CSV_COLUMNS, *OPTIONAL_COLUMNS)

# Enough to fix a file in one go; a file that is wrong on every row should not
# answer with a hundred thousand messages.
MAX_PROBLEMS = 100

# The longest valid row is well under 30 KB (a list of every country and every
# topic); reading a physical line stops here, so a line of megabytes is
# reported, not held in memory.
MAX_LINE_BYTES = 64 * 1024

# OWASP's CSV-injection rule: a spreadsheet runs a cell beginning with one of
# these as a formula. The export prefixes such cells with a single quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _length(column: str) -> int:
    """The column's length in the model: the one place it is decided."""
    length = getattr(Journalist.__table__.c[column].type, "length", None)
    assert isinstance(length, int)
    return length


@dataclass(frozen=True)
class Problem:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportFailed(ValueError):
    """Some rows are wrong; nothing was written.

    ``problems`` holds the first :data:`MAX_PROBLEMS`; ``total`` counts them all
    and ``bad_rows`` the rows (or header) they are on.
    """

    def __init__(self, problems: list[Problem], total: int, bad_rows: int) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems
        self.total = total
        self.bad_rows = bad_rows


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    outlet: str
    cadence: str
    countries: tuple[str, ...]  # sorted; empty means any
    topics: tuple[str, ...]
    language: str = ""  # "" keeps the journalist's (or the default)
    timezone: str = ""


def export_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: formula starts get a leading ``'``."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _import_cell(value: str) -> str:
    """Undo :func:`export_cell`, so that an export re-imports as it was."""
    value = value.strip()
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:].strip()
    return value


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


class CsvRows:
    """The checked rows of a journalist CSV, read incrementally from ``source``.

    Iterate to get the good rows; afterwards :meth:`check` raises
    :class:`ImportFailed` if anything was wrong (or there were no rows).
    ``failed`` turns true at the first problem, so a caller can stop storing.
    """

    def __init__(
        self, source: IO[bytes], taxonomy: Taxonomy, languages: Collection[str] = LANGUAGES
    ) -> None:
        self._source = source
        self._taxonomy = taxonomy
        self._languages = {code.lower(): code for code in languages}
        self.problems: list[Problem] = []
        self.total = 0
        self.bad_rows = 0
        self.rows = 0
        self._last_bad_line = 0
        self._broken_line = 0  # the last line that could not be read as text
        self._max = {c: _length(c) for c in ("email", "name", "outlet")}
        # A list naming every known value once; anything longer repeats or is wrong.
        self._max["countries"] = sum(len(c) + 1 for c in [*countries(), *regions()])
        self._max["topics"] = sum(len(t) + 1 for t in taxonomy.topics)
        self._max["cadence"] = max(len(c) for c in Cadence)
        self._max["language"] = _length("language")
        self._max["timezone"] = _length("timezone")

    @property
    def failed(self) -> bool:
        return self.total > 0

    def check(self) -> None:
        if not self.failed and self.rows == 0:
            self._problem(1, None, "the file has no rows")
        if self.failed:
            raise ImportFailed(self.problems, self.total, self.bad_rows)

    def _problem(self, line: int, column: str | None, message: str) -> None:
        self.total += 1
        if line != self._last_bad_line:
            self.bad_rows += 1
            self._last_bad_line = line
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, column, message))

    def _lines(self) -> Iterator[str]:
        """Physical lines as text; a line too long or not UTF-8 is reported by number."""
        number = 0
        while raw := self._source.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                self._problem(number, None, f"the line is longer than {MAX_LINE_BYTES} bytes")
                self._broken_line = number
                while raw and not raw.endswith(b"\n"):  # skip the rest of it, unread
                    raw = self._source.readline(MAX_LINE_BYTES)
                yield "\n"
                continue
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                # A UTF-8 sequence never contains b"\n": each line decodes alone.
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._problem(number, None, f"not UTF-8 text (byte {exc.start + 1} of the line)")
                self._broken_line = number
                yield raw.decode("utf-8", "replace")

    def __iter__(self) -> Iterator[ImportRow]:
        # strict: an unclosed or stray quote is an error, not a field that eats the file.
        reader = csv.reader(self._lines(), strict=True)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            header = []
        except csv.Error as exc:
            self._problem(1, None, f"malformed header: {exc}")
            return
        missing = [c for c in CSV_COLUMNS if c not in header]
        doubled = sorted({h for h in header if h and header.count(h) > 1})
        if missing or doubled:
            if missing:
                self._problem(
                    1,
                    None,
                    f"missing column(s) {', '.join(missing)} (expected {','.join(CSV_COLUMNS)})",
                )
            if doubled:
                self._problem(1, None, f"column(s) named twice: {', '.join(doubled)}")
            return
        index = {c: header.index(c) for c in EXPORT_COLUMNS if c in header}
        end = reader.line_num
        while True:
            start = end + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                end = reader.line_num
                self._problem(start, None, f"malformed CSV: {exc}")
                continue
            end = reader.line_num
            if not fields or self._broken_line >= start:
                continue  # a blank line, or one already reported as unreadable
            if len(fields) != len(header):
                more = "more" if len(fields) > len(header) else "fewer"
                self._problem(
                    start,
                    None,
                    f"{more} fields than columns ({len(fields)}, the header has {len(header)})",
                )
                continue
            row = self._row(start, fields, index)
            if row is not None:
                self.rows += 1
                yield row

    def _row(self, line: int, fields: Sequence[str], index: dict[str, int]) -> ImportRow | None:
        values = {c: _import_cell(fields[i]) for c, i in index.items()}
        before = self.total
        for column, value in values.items():
            if len(value) > self._max[column]:
                self._problem(
                    line,
                    column,
                    f"{column} is longer than {self._max[column]} characters ({len(value)})",
                )
        if self.total > before:
            return None  # other checks on an oversized value would only repeat it
        email = countries_ = topics = None
        try:
            email = normalise_email(values["email"])
        except InvalidAddress as exc:
            self._problem(line, "email", str(exc))
        try:
            countries_ = self._taxonomy.country_codes(_split(values["countries"]))
        except TaxonomyError as exc:
            self._problem(line, "countries", str(exc))
        try:
            topics = self._taxonomy.topic_codes(_split(values["topics"]))
        except TaxonomyError as exc:
            self._problem(line, "topics", str(exc))
        cadence = (values["cadence"] or Cadence.IMMEDIATE).lower()
        if cadence not in set(Cadence):
            self._problem(
                line, "cadence", f"unknown cadence {cadence!r} (one of {', '.join(Cadence)})"
            )
        # Spelt as the setting spells it (pt-BR), whatever case the file uses.
        typed = values.get("language", "")
        language = self._languages.get(typed.lower(), typed)
        if typed and typed.lower() not in self._languages:
            self._problem(line, "language", unknown_language(typed, self._languages.values()))
        zone = values.get("timezone", "")
        if zone:
            try:
                zone = check_zone(zone)
            except InvalidSchedule as exc:
                self._problem(line, "timezone", str(exc))
        if email is None or countries_ is None or topics is None or self.total > before:
            return None
        return ImportRow(
            line,
            email,
            values["name"],
            values["outlet"],
            cadence,
            tuple(sorted(countries_)),
            tuple(sorted(topics)),
            language,
            zone,
        )
