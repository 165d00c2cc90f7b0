"""Statements over many rows or ids that stay short on PostgreSQL, whatever the count.

psycopg parses every statement's text for its placeholders in Python and caches
only short ones: an ``IN`` of 2,000 ids or a multi-row ``VALUES`` of 10,000
parameters is parsed anew each time, which was most of a digest planning tick
over 100,000 journalists. On PostgreSQL the ids or the rows' columns travel as
arrays (``= ANY(…)``, ``unnest(…)``), one parameter each; SQLite parses in C and
gets the plain forms.

The arrays travel as their text (``pg_array``), not as Python lists: psycopg turns a
list into an array element by element in Python, 15 ms for 2,000 timestamps and
2.3 ms for 2,000 ints, where joining their text takes 3.4 and 0.8 ms; a digest
planning chunk passes seven such arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Table, any_, bindparam, cast, literal, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from alerts.core.db import upsert_insert


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def pg_array(values: Iterable[Any]) -> str:
    """These values as a PostgreSQL array literal, for ``CAST(:param AS type[])``.

    Strings are quoted and escaped, so any text is carried as it is; a datetime is
    written as naive UTC (core.models.UTCDateTime's storage); None is NULL.
    """
    return "{" + ",".join(map(_element, values)) + "}"


def int_array(ids: Iterable[Any]) -> str:
    """``pg_array`` of ints, the common case, at C speed."""
    return "{" + ",".join(map(str, map(int, ids))) + "}"


def id_array(ids: Iterable[Any]) -> ColumnElement[Any]:
    """An ``INTEGER[]`` of these ids, as one parameter (PostgreSQL)."""
    return array_of(int_array(ids), Integer)


def array_of(literal_text: str, item_type: Any) -> ColumnElement[Any]:
    """``CAST(:param AS item_type[])`` of a ``pg_array`` text.

    The parameter must reach the server untyped (psycopg sends a str as "unknown"),
    so that the cast is read as the array's own literal: SQLAlchemy's ``::VARCHAR``
    on a String parameter made it a cast of a varchar, done again for every row a
    filter looked at (2.4 s instead of 4 ms for 2,000 ids over 20,000 digests).
    """
    return cast(literal(literal_text, NullType()), ARRAY(item_type))


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return str(_array_value(value).isoformat())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"no array element for {type(value).__name__}")


def among(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids``: one array parameter on PostgreSQL."""
    if _postgres(session):
        result: ColumnElement[bool] = column == any_(id_array(ids))
        return result
    in_list: ColumnElement[bool] = column.in_(ids)
    return in_list


def _array_value(value: Any) -> Any:
    # A UTC column is stored naive (core.models.UTCDateTime); arrays bypass that type.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def insert_new(
    session: Session, table: Table, rows: list[dict[str, Any]], unique: Sequence[str]
) -> list[int]:
    """Insert the rows that do not clash on ``unique``; the ids of those inserted."""
    if not rows:
        return []
    columns = list(rows[0])
    if not _postgres(session):
        return list(
            session.connection()
            .execute(
                upsert_insert(session)(table)
                .on_conflict_do_nothing(index_elements=list(unique))
                .returning(table.c.id),
                rows,
            )
            .scalars()
        )
    casts = []
    for name in columns:
        kind = table.c[name].type
        sql_type = kind.impl if hasattr(kind, "impl") else kind  # a TypeDecorator's own
        casts.append(f"CAST(:{name} AS {sql_type.compile(session.get_bind().dialect)}[])")
    statement = text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({', '.join(casts)}) "
        f"ON CONFLICT ({', '.join(unique)}) DO NOTHING RETURNING id"
    )
    params = {name: pg_array(row[name] for row in rows) for name in columns}
    return list(session.execute(statement, params).scalars())


def compare_and_set(
    session: Session, table: Table, column: str, changes: Sequence[tuple[int, Any, Any]]
) -> None:
    """Per (id, seen, new): set ``column`` to new where it still holds seen."""
    if not changes:
        return
    if not _postgres(session):
        col = table.c[column]
        session.connection().execute(
            table.update()
            .where(table.c.id == bindparam("b_id"), col == bindparam("b_seen", type_=col.type))
            .values({column: bindparam("b_new", type_=col.type)}),
            [{"b_id": i, "b_seen": seen, "b_new": new} for i, seen, new in changes],
        )
        return
    kind = table.c[column].type
    sql_type = (kind.impl if hasattr(kind, "impl") else kind).compile(session.get_bind().dialect)
    session.execute(
        text(
            f"UPDATE {table.name} AS t SET {column} = v.new "
            f"FROM unnest(CAST(:ids AS INTEGER[]), CAST(:seen AS {sql_type}[]), "
            f"CAST(:new AS {sql_type}[])) AS v(id, seen, new) "
            f"WHERE t.id = v.id AND t.{column} IS NOT DISTINCT FROM v.seen"
        ),
        {
            "ids": int_array(i for i, _, _ in changes),
            "seen": pg_array(seen for _, seen, _ in changes),
            "new": pg_array(new for _, _, new in changes),
        },
    )
