"""Importing the journalist CSV in bounded memory: staged in chunks, written set-based.

Checked rows go, a chunk at a time, into a temporary staging table (``COPY`` on
PostgreSQL, ``executemany`` on SQLite); when the whole file is good a few
set-based statements write the journalists and subscriptions, all inside the
caller's transaction (the caller commits). Memory stays flat however many
rows the file has; a file with any bad row writes nothing.

What an import does, as it always has: new addresses become active
journalists; known ones keep their details unless the file gives a name or an
outlet (the first row of an address decides), and pending ones become active;
anyone unsubscribed or suppressed (under their address, or the keyed hash an
erasure leaves) is skipped and reported; a subscription the journalist already
has (same countries, topics and cadence) is not added twice, nor is one named
twice in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from alerts.audience.csv_rows import CsvRows, ImportRow
from alerts.core.db import upsert_insert
from alerts.core.i18n import LANGUAGES
from alerts.core.models import (
    Journalist,
    JournalistStatus,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    Suppression,
    UTCDateTime,
    due_at_once,
)
from alerts.core.taxonomy import Taxonomy

CHUNK_ROWS = 2000

_staging = MetaData()


def _temp(name: str, *columns: Column[Any]) -> Table:
    # Dropped with the transaction on PostgreSQL; explicitly on SQLite.
    return Table(name, _staging, *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


ROWS = _temp(
    "csv_import_rows",
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("email", String, nullable=False, index=True),
    Column("email_hash", String),
    Column("name", String, nullable=False),
    Column("outlet", String, nullable=False),
    Column("cadence", String, nullable=False),
    # Sorted codes joined by ";" ("" means any): comparable as strings.
    Column("countries", String, nullable=False),
    Column("topics", String, nullable=False),
    # "" when the file has no such column or leaves the cell empty.
    Column("language", String, nullable=False),
    Column("timezone", String, nullable=False),
)
PEOPLE = _temp(  # one per address: the first row that names it
    "csv_import_people",
    Column("email", String, primary_key=True),
    Column("line", Integer, nullable=False),
    Column("journalist_id", Integer, index=True),
)
EXISTING = _temp(  # the subscriptions the known journalists already have
    "csv_import_existing",
    Column("journalist_id", Integer, nullable=False, index=True),
    Column("cadence", String, nullable=False),
    Column("countries", String, nullable=False),
    Column("topics", String, nullable=False),
)
NEW_SUBSCRIPTIONS = _temp(
    "csv_import_new_subscriptions",
    Column("seq", Integer, primary_key=True),
    Column("id", Integer),
    Column("journalist_id", Integer, nullable=False),
    Column("cadence", String, nullable=False),
    Column("countries", String, nullable=False),
    Column("topics", String, nullable=False),
)
STAGING = (ROWS, PEOPLE, EXISTING, NEW_SUBSCRIPTIONS)

# Core tables, not ORM entities: set-based statements that need no identity map
# (an ORM UPDATE would fetch back every id it touched).
JOURNALISTS = cast(Table, Journalist.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)
COUNTRIES = cast(Table, SubscriptionCountry.__table__)
TOPICS = cast(Table, SubscriptionTopic.__table__)
SUPPRESSIONS = cast(Table, Suppression.__table__)


@dataclass
class ImportSummary:
    journalists_created: int = 0
    journalists_updated: int = 0
    subscriptions_added: int = 0
    skipped: list[str] = field(default_factory=list)


def import_journalists(
    session: Session,
    source: IO[bytes],
    taxonomy: Taxonomy,
    now: datetime,
    hasher: Callable[[str], str] | None = None,
    languages: Collection[str] = LANGUAGES,
) -> ImportSummary:
    """Import a journalist CSV read from ``source``; the caller commits.

    Raises :class:`~alerts.journalist_csv.ImportFailed` naming every problem
    (by line) when any row is wrong; then nothing has been written.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if not postgres:
        # The write lock first, before anything reads the main database. A SQLite
        # transaction that has read cannot become a writer once another connection
        # (the worker's beat, say) has committed since: "database is locked" at once,
        # with no busy wait. A write that touches no row takes the lock, waiting for
        # other writers as the busy timeout allows.
        session.execute(text("DELETE FROM journalists WHERE 0"))
    rows = CsvRows(source, taxonomy, languages)
    _drop_staging(session)
    for table in STAGING:
        table.create(session.connection())
    for chunk in _chunks(rows, CHUNK_ROWS):
        if rows.failed:
            continue  # keep reading, to report every problem; store no more
        values = [_staged(row, hasher) for row in chunk]
        if postgres:
            _copy(session, values)
        else:
            session.execute(insert(ROWS), values)
    if rows.failed or rows.rows == 0:
        _drop_staging(session)
        rows.check()  # raises ImportFailed
    if postgres:
        session.execute(text(f"ANALYZE {ROWS.name}"))  # temp tables get no autovacuum stats
    summary = _write(session, postgres, bindparam("now", now, type_=UTCDateTime()))
    _drop_staging(session)
    return summary


def _chunks(rows: Iterable[ImportRow], size: int) -> Iterator[list[ImportRow]]:
    chunk: list[ImportRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _staged(row: ImportRow, hasher: Callable[[str], str] | None) -> dict[str, Any]:
    return {
        "line": row.line,
        "email": row.email,
        "email_hash": hasher(row.email) if hasher else None,
        "name": row.name,
        "outlet": row.outlet,
        "cadence": row.cadence,
        "countries": ";".join(row.countries),
        "topics": ";".join(row.topics),
        "language": row.language,
        "timezone": row.timezone,
    }


def _copy(session: Session, values: list[dict[str, Any]]) -> None:
    names = [c.name for c in ROWS.columns]
    raw = session.connection().connection.driver_connection
    assert raw is not None
    statement = f"COPY {ROWS.name} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for value in values:
            copy.write_row([value[n] for n in names])


def _drop_staging(session: Session) -> None:
    for table in reversed(STAGING):
        session.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


class _SortedJoin:
    """SQLite aggregate: the values sorted and joined by ";" (PostgreSQL has string_agg)."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def step(self, value: str) -> None:
        self.values.append(value)

    def finalize(self) -> str:
        return ";".join(sorted(self.values))


def _sorted_join(session: Session, postgres: bool, column: Any) -> ColumnElement[str]:
    if postgres:
        return func.string_agg(column, aggregate_order_by(literal(";"), column))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    raw.create_aggregate("alerts_sorted_join", 1, _SortedJoin)
    return func.alerts_sorted_join(column)


def _write(session: Session, postgres: bool, now: Any) -> ImportSummary:
    summary = ImportSummary()
    suppressed = select(SUPPRESSIONS.c.email)
    left = select(JOURNALISTS.c.email).where(
        JOURNALISTS.c.status.in_([JournalistStatus.UNSUBSCRIBED, JournalistStatus.SUPPRESSED])
    )
    skip = or_(
        ROWS.c.email.in_(suppressed), ROWS.c.email_hash.in_(suppressed), ROWS.c.email.in_(left)
    )
    for line, email in session.execute(
        select(ROWS.c.line, ROWS.c.email).where(skip).order_by(ROWS.c.line)
    ):
        summary.skipped.append(f"line {line}: {email} unsubscribed or suppressed")
    session.execute(delete(ROWS).where(skip))

    session.execute(
        insert(PEOPLE).from_select(
            ["email", "line"], select(ROWS.c.email, func.min(ROWS.c.line)).group_by(ROWS.c.email)
        )
    )
    journalist_id = select(JOURNALISTS.c.id).where(JOURNALISTS.c.email == PEOPLE.c.email)
    session.execute(update(PEOPLE).values(journalist_id=journalist_id.scalar_subquery()))
    summary.journalists_updated = _count(PEOPLE, PEOPLE.c.journalist_id.is_not(None), session)

    # Before the new ones exist: the known journalists' subscriptions, as keys.
    def key(table: Table, column: str) -> Any:
        aggregated = (
            select(_sorted_join(session, postgres, table.c[column]))
            .where(table.c.subscription_id == SUBSCRIPTIONS.c.id)
            .scalar_subquery()
        )
        return func.coalesce(aggregated, "")

    session.execute(
        insert(EXISTING).from_select(
            ["journalist_id", "cadence", "countries", "topics"],
            select(
                SUBSCRIPTIONS.c.journalist_id,
                SUBSCRIPTIONS.c.cadence,
                key(COUNTRIES, "country"),
                key(TOPICS, "topic"),
            ).join_from(
                SUBSCRIPTIONS, PEOPLE, PEOPLE.c.journalist_id == SUBSCRIPTIONS.c.journalist_id
            ),
        )
    )

    pending = JOURNALISTS.c.status == JournalistStatus.PENDING
    session.execute(
        update(JOURNALISTS)
        .where(JOURNALISTS.c.id == PEOPLE.c.journalist_id, ROWS.c.line == PEOPLE.c.line)
        .values(
            name=case((ROWS.c.name != "", ROWS.c.name), else_=JOURNALISTS.c.name),
            outlet=case((ROWS.c.outlet != "", ROWS.c.outlet), else_=JOURNALISTS.c.outlet),
            language=case((ROWS.c.language != "", ROWS.c.language), else_=JOURNALISTS.c.language),
            timezone=case((ROWS.c.timezone != "", ROWS.c.timezone), else_=JOURNALISTS.c.timezone),
            confirmed_at=case((pending, now), else_=JOURNALISTS.c.confirmed_at),
            status=case((pending, JournalistStatus.ACTIVE.value), else_=JOURNALISTS.c.status),
            # New subscriptions or a confirmation may bring a digest: the planner looks again.
            next_due_at=due_at_once(),
        )
    )
    # Counted, not taken from rowcount: psycopg reports -1 for this INSERT … SELECT.
    summary.journalists_created = _count(PEOPLE, PEOPLE.c.journalist_id.is_(None), session)

    # The model's other defaults (digest time and day) are rendered into the
    # statement by SQLAlchemy; an empty language or zone cell takes the model's.
    def given(column: str) -> Any:
        default = JOURNALISTS.c[column].default
        assert isinstance(default, ScalarElementColumnDefault)
        return case((ROWS.c[column] != "", ROWS.c[column]), else_=literal(default.arg))

    session.execute(
        upsert_insert(session)(JOURNALISTS)
        .from_select(
            [
                *("email", "name", "outlet", "language", "timezone"),
                *("status", "created_at", "confirmed_at"),
            ],
            select(
                PEOPLE.c.email,
                ROWS.c.name,
                ROWS.c.outlet,
                given("language"),
                given("timezone"),
                literal(JournalistStatus.ACTIVE.value),
                now,
                now,
            )
            .where(PEOPLE.c.journalist_id.is_(None), ROWS.c.line == PEOPLE.c.line)
            .order_by(PEOPLE.c.line),
        )
        .on_conflict_do_nothing(index_elements=["email"])
    )
    session.execute(
        update(PEOPLE)
        .where(PEOPLE.c.journalist_id.is_(None))
        .values(journalist_id=journalist_id.scalar_subquery())
    )

    known = exists().where(
        EXISTING.c.journalist_id == PEOPLE.c.journalist_id,
        EXISTING.c.cadence == ROWS.c.cadence,
        EXISTING.c.countries == ROWS.c.countries,
        EXISTING.c.topics == ROWS.c.topics,
    )
    spec = (PEOPLE.c.journalist_id, ROWS.c.cadence, ROWS.c.countries, ROWS.c.topics)
    session.execute(
        insert(NEW_SUBSCRIPTIONS).from_select(
            ["journalist_id", "cadence", "countries", "topics"],
            select(*spec)
            .join_from(ROWS, PEOPLE, PEOPLE.c.email == ROWS.c.email)
            .where(PEOPLE.c.journalist_id.is_not(None), ~known)
            .group_by(*spec)
            .order_by(func.min(ROWS.c.line)),
        )
    )
    if postgres:
        next_id: Any = func.nextval(func.pg_get_serial_sequence("subscriptions", "id"))
    else:
        # The journalists were written above, so this transaction holds SQLite's
        # one write lock: nobody else can take these ids in the meantime.
        highest = select(func.coalesce(func.max(SUBSCRIPTIONS.c.id), 0)).scalar_subquery()
        next_id = NEW_SUBSCRIPTIONS.c.seq + highest
    session.execute(update(NEW_SUBSCRIPTIONS).values(id=next_id))
    session.execute(
        insert(SUBSCRIPTIONS).from_select(
            ["id", "journalist_id", "cadence", "all_countries", "all_topics", "created_at"],
            select(
                NEW_SUBSCRIPTIONS.c.id,
                NEW_SUBSCRIPTIONS.c.journalist_id,
                NEW_SUBSCRIPTIONS.c.cadence,
                NEW_SUBSCRIPTIONS.c.countries == "",
                NEW_SUBSCRIPTIONS.c.topics == "",
                now,
            ),
        )
    )
    summary.subscriptions_added = _count(NEW_SUBSCRIPTIONS, true(), session)
    for table, column in ((COUNTRIES, "country"), (TOPICS, "topic")):
        _insert_codes(session, postgres, table.name, column)
    return summary


def _count(table: Table, where: ColumnElement[bool], session: Session) -> int:
    return session.scalar(select(func.count()).select_from(table).where(where)) or 0


def _insert_codes(session: Session, postgres: bool, table: str, column: str) -> None:
    """Split each new subscription's ";"-joined codes into its country or topic rows."""
    source = "countries" if column == "country" else "topics"
    if postgres:
        codes = f"unnest(string_to_array(n.{source}, ';')) AS code(value)"
        join = "CROSS JOIN LATERAL"
    else:
        # Country codes are letters and topic codes letters, digits and "-"
        # (the taxonomy checks both), so joining them with '","' is valid JSON.
        codes = f"""json_each('["' || replace(n.{source}, ';', '","') || '"]') AS code"""
        join = ","
    session.execute(
        text(
            f"INSERT INTO {table} (subscription_id, {column}) "
            f"SELECT n.id, code.value FROM {NEW_SUBSCRIPTIONS.name} n {join} {codes} "
            f"WHERE n.{source} <> ''"
        )
    )
