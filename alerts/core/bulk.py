"""Statements over many rows or ids that stay short on PostgreSQL, whatever the count.

psycopg parses every statement's text for its placeholders in Python and caches
only short ones: an ``IN`` of 2,000 ids or a multi-row ``VALUES`` of 10,000
parameters is parsed anew each time, which was most of a digest planning tick
over 100,000 journalists. On PostgreSQL the ids or the rows' columns travel as
arrays (``= ANY(…)``, ``unnest(…)``), one parameter each; SQLite parses in C and
gets the plain forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Table, any_, bindparam, literal, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from alerts.core.db import upsert_insert


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids``: one array parameter on PostgreSQL."""
    if _postgres(session):
        result: ColumnElement[bool] = column == any_(literal(list(ids), ARRAY(Integer)))
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
    params = {name: [_array_value(row[name]) for row in rows] for name in columns}
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
            "ids": [i for i, _, _ in changes],
            "seen": [_array_value(seen) for _, seen, _ in changes],
            "new": [_array_value(new) for _, _, new in changes],
        },
    )
