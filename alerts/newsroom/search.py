"""Full-text search over items: PostgreSQL's tsvector, SQLite's FTS5 (migration 0010).

What a reader types is never handed to a query language: it is cut into words
(letters and digits, as both tokenisers see them) and every word must appear.
So quotes, ``*``, ``NEAR``, ``OR``, ``-`` and ``'`` are plain punctuation or
plain words, and no input can make the SQL or the FTS syntax fail.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from alerts.core.models import Item

# Letters and digits only: both tokenisers split on everything else, "_" included.
_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_CHARS = 200
MAX_WORDS = 12

# Names of the search objects migration 0010 adds outside the models, so that
# schema comparisons (autogenerate, tests/test_migrations.py) leave them alone.
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_items_search_vector"
FTS_TABLE = "items_fts"


def is_search_object(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    if type_ == "table":
        return bool(name) and str(name).startswith(FTS_TABLE)
    if type_ == "column":
        return name == SEARCH_COLUMN and parent_names.get("table_name") == "items"
    return type_ == "index" and name == SEARCH_INDEX


def words(query: str) -> list[str]:
    """The words of a search, lower-cased, in order, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:MAX_WORDS]


def matching(session: Session, terms: list[str]) -> ColumnElement[bool]:
    """A condition on ``Item.id``: the item holds every term in its title, summary or body."""
    if session.get_bind().dialect.name == "postgresql":
        # plainto_tsquery ANDs its words and reads no operators.
        query = func.plainto_tsquery(text("'simple'::regconfig"), " ".join(terms))
        return literal_column(f"items.{SEARCH_COLUMN}").bool_op("@@")(query)
    # Each word a quoted FTS5 string ("" escapes a quote), joined: all must match.
    fts = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    ids: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(text(FTS_TABLE))
        .where(literal_column(FTS_TABLE).op("MATCH")(fts))
    )
    return Item.id.in_(ids)
