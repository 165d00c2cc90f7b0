"""Arrays sent as their text (core/bulk.py ``pg_array``): PostgreSQL reads back exactly
the values written, whatever a string holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from alerts.core.bulk import int_array, pg_array
from alerts.core.db import make_engine

# PostgreSQL's text cannot hold NUL; everything else may come from a relay's reply.
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40)


@pytest.fixture(scope="module")
def conn(postgres_url: str) -> Iterator[Connection]:
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _back(conn: Connection, literal: str, sql_type: str) -> list[object]:
    return list(conn.execute(text(f"SELECT CAST(:a AS {sql_type}[])"), {"a": literal}).scalar())


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), TEXT), max_size=12))
def test_any_text_comes_back_as_it_was(conn: Connection, values: list[str | None]) -> None:
    assert _back(conn, pg_array(values), "VARCHAR") == values


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=30))
def test_ints_come_back_as_they_were(conn: Connection, values: list[int]) -> None:
    assert _back(conn, int_array(values), "INTEGER") == values
    assert _back(conn, pg_array(values), "INTEGER") == values


def test_text_that_looks_like_syntax_is_only_text(conn: Connection) -> None:
    tricky = ["NULL", "", " ", "{}", "a,b", '"', "\\", '\\"', "}", "{1,2}", "550 5.1.1 <x@y>"]
    assert _back(conn, pg_array(tricky), "VARCHAR") == tricky


def test_datetimes_are_written_as_naive_utc_and_dates_as_dates(conn: Connection) -> None:
    paris = timezone(timedelta(hours=1))
    values = [
        datetime(2026, 11, 10, 13, 0, 0, 123456, tzinfo=paris),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        None,
    ]
    assert _back(conn, pg_array(values), "TIMESTAMP") == [
        datetime(2026, 11, 10, 12, 0, 0, 123456),
        datetime(2026, 3, 29, 1, 30),
        None,
    ]
    assert _back(conn, pg_array([date(2026, 12, 3), True, False]), "VARCHAR") == [
        "2026-12-03",
        "t",
        "f",
    ]


def test_an_unknown_kind_of_value_is_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        pg_array([1.5])
