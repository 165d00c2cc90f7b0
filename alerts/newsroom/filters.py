"""The newsroom's filters, read strictly from a query string: an unknown value is an error.

An empty list for an unknown country would look like "nothing about it"; a
clear error says the address is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from babel import Locale, UnknownLocaleError

from alerts.core.i18n import N_
from alerts.core.taxonomy import Taxonomy, countries, regions
from alerts.items.drafts import ITEM_KINDS
from alerts.newsroom.search import MAX_QUERY_CHARS, words

FILTER_KEYS = ("country", "region", "topic", "kind", "language")
MAX_VALUES = 20  # of one filter: more than any reader picks by hand
MAX_PAGE = 100_000
_SHOWN = 40  # characters of a bad value repeated back to the reader


class FilterError(ValueError):
    """A filter the newsroom does not know; ``message`` is for the reader (translatable),
    ``values`` what to fill in (already cut short)."""

    def __init__(self, message: str, **values: str) -> None:
        super().__init__(message % values if values else message)
        self.message, self.values = message, values


@dataclass(frozen=True)
class NewsFilter:
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    query: str = ""
    terms: tuple[str, ...] = field(default=())

    @property
    def filtered(self) -> bool:
        return bool(self.countries or self.regions or self.topics or self.kinds or self.languages)

    @property
    def searching(self) -> bool:
        return bool(self.query.strip())

    def region_countries(self) -> set[str]:
        known = regions()
        return {code for slug in self.regions for code in known[slug][1]}

    def params(self) -> list[tuple[str, str]]:
        """The filter as query parameters, in a stable order (links, feed, paging)."""
        pairs = [("country", c) for c in self.countries]
        pairs += [("region", r) for r in self.regions]
        pairs += [("topic", t) for t in self.topics]
        pairs += [("kind", k) for k in self.kinds]
        pairs += [("language", lang) for lang in self.languages]
        if self.query:
            pairs.append(("q", self.query))
        return pairs

    def query_string(self, **extra: str) -> str:
        pairs = self.params() + list(extra.items())
        return f"?{urlencode(pairs)}" if pairs else ""

    def subscribe_query(self) -> str:
        """The sign-up form with these countries, regions and topics chosen."""
        pairs = [("countries", c) for c in (*self.countries, *self.regions)]
        pairs += [("topics", t) for t in self.topics]
        return f"?{urlencode(pairs)}" if pairs else ""


def _short(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "…"


def _values(params: Mapping[str, Sequence[str]], key: str) -> list[str]:
    values = [v.strip() for v in params.get(key, ()) if v.strip()]
    if len(values) > MAX_VALUES:
        raise FilterError(N_("Choose at most %(count)s values of one filter."), count="20")
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def _unknown(what: str, value: str) -> FilterError:
    return FilterError(what, value=_short(value))


def parse_filter(params: Mapping[str, Sequence[str]], taxonomy: Taxonomy) -> NewsFilter:
    """``params``: every value of every key (``?topic=a&topic=b`` is two topics)."""
    known_countries = countries()
    picked_countries = []
    for value in _values(params, "country"):
        if value.upper() not in known_countries:
            raise _unknown(N_("There is no country with the code “%(value)s”."), value)
        picked_countries.append(value.upper())
    picked_regions = []
    for value in _values(params, "region"):
        if value.lower() not in regions():
            raise _unknown(N_("There is no region called “%(value)s”."), value)
        picked_regions.append(value.lower())
    picked_topics = []
    for value in _values(params, "topic"):
        if value.lower() not in taxonomy.topics:
            raise _unknown(N_("There is no topic called “%(value)s”."), value)
        picked_topics.append(value.lower())
    picked_kinds = []
    for value in _values(params, "kind"):
        if value not in ITEM_KINDS:
            raise _unknown(N_("There is no kind of release called “%(value)s”."), value)
        picked_kinds.append(value)
    picked_languages = [_language(value) for value in _values(params, "language")]
    queries = list(params.get("q", ()))
    if len(queries) > 1:
        raise FilterError(N_("Search for one thing at a time."))
    query = " ".join((queries[0] if queries else "").split())
    if len(query) > MAX_QUERY_CHARS:
        raise FilterError(
            N_("The search is too long: use at most %(count)s characters."),
            count=str(MAX_QUERY_CHARS),
        )
    return NewsFilter(
        tuple(sorted(picked_countries)),
        tuple(sorted(picked_regions)),
        tuple(sorted(picked_topics)),
        tuple(sorted(picked_kinds)),
        tuple(sorted(picked_languages)),
        query,
        tuple(words(query)),
    )


def _language(value: str) -> str:
    code = value.lower()
    try:
        if code.isascii() and code.isalpha() and len(code) in (2, 3):
            Locale.parse(code)
            return code
    except (ValueError, UnknownLocaleError):
        pass
    raise _unknown(N_("There is no language with the code “%(value)s”."), value)


def parse_page(values: Sequence[str]) -> int:
    if not values:
        return 1
    if len(values) > 1 or not values[0].isascii() or not values[0].isdigit():
        raise FilterError(N_("The page number must be a whole number from 1."))
    # A huge number is simply past the end (a 404), not an error of form.
    page = min(int(values[0][:7]) if len(values[0]) <= 7 else MAX_PAGE + 1, MAX_PAGE + 1)
    if page < 1:
        raise FilterError(N_("The page number must be a whole number from 1."))
    return page
