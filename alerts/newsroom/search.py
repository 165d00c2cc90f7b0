"""Full-text search over items and their translations: PostgreSQL's tsvector, SQLite's
FTS5 (migrations 0010 and 0016_translations).

What a reader types is never handed to a query language: it is cut into words
(letters and digits, as both tokenisers see them) and every word must appear.
So quotes, ``*``, ``NEAR``, ``OR``, ``-`` and ``'`` are plain punctuation or
plain words, and no input can make the SQL or the FTS syntax fail.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from alerts.core.models import Item, ItemTranslation

# Letters and digits only: both tokenisers split on everything else, "_" included.
_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_CHARS = 200
MAX_WORDS = 12

# Names of the search objects migration 0010 adds outside the models, so that
# schema comparisons (autogenerate, tests/test_migrations.py) leave them alone.
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_items_search_vector"
FTS_TABLE = "items_fts"
# The translations' own (0016_translations); the FTS5 table's name starts like the items'.
TRANSLATED_TABLE = "item_translations"
TRANSLATED_INDEX = "ix_item_translations_search_vector"
TRANSLATED_FTS = "items_fts_translations"


def is_search_object(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    if type_ == "table":
        return bool(name) and str(name).startswith(FTS_TABLE)
    if type_ == "column":
        return name == SEARCH_COLUMN and parent_names.get("table_name") in {
            "items",
            TRANSLATED_TABLE,
        }
    return type_ == "index" and name in {SEARCH_INDEX, TRANSLATED_INDEX}


def words(query: str) -> list[str]:
    """The words of a search, lower-cased, in order, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:MAX_WORDS]


def matching(session: Session, terms: list[str]) -> ColumnElement[bool]:
    """A condition on ``Item.id``: the item, or one of its translations, holds every term
    in its title, summary or body."""
    if session.get_bind().dialect.name == "postgresql":
        # plainto_tsquery ANDs its words and reads no operators; alerts_fold takes the
        # accents off when the database has unaccent (0016_translations), as the index did.
        query = func.plainto_tsquery(text("'simple'::regconfig"), func.alerts_fold(" ".join(terms)))
        translated = select(ItemTranslation.item_id).where(
            literal_column(f"{TRANSLATED_TABLE}.{SEARCH_COLUMN}").bool_op("@@")(query)
        )
        return or_(
            literal_column(f"items.{SEARCH_COLUMN}").bool_op("@@")(query),
            Item.id.in_(translated),
        )
    # Each word a quoted FTS5 string ("" escapes a quote), joined: all must match.
    fts = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    ids: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(text(FTS_TABLE))
        .where(literal_column(FTS_TABLE).op("MATCH")(fts))
    )
    translation_ids: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(text(TRANSLATED_FTS))
        .where(literal_column(TRANSLATED_FTS).op("MATCH")(fts))
    )
    translated = select(ItemTranslation.item_id).where(ItemTranslation.id.in_(translation_ids))
    return or_(Item.id.in_(ids), Item.id.in_(translated))
