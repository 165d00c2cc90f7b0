"""A feed's topic map: its categories mapped to the newsroom's countries and topics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alerts.core.taxonomy import Taxonomy, TaxonomyError
from alerts.core.unknown_keys import unknown_keys_message


class FeedError(ValueError):
    """Bad input for a feed; the message names the problem."""


class InvalidTopicMap(FeedError):
    """The topic map is malformed or names an unknown topic, country or category."""


def category_key(name: str) -> str:
    """How feed categories are compared: case and runs of whitespace do not matter."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class CategoryMapping:
    topics: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Resolution:
    topics: frozenset[str]
    countries: frozenset[str]
    unmapped: tuple[str, ...]

    @property
    def publishable(self) -> bool:
        return bool(self.topics or self.countries)


@dataclass(frozen=True)
class TopicMap:
    """Feed category → topics and countries, validated against the vocabulary."""

    categories: Mapping[str, CategoryMapping] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: object, taxonomy: Taxonomy) -> TopicMap:
        """``{"categories": {"<category>": {"topics": [...], "countries": [...]}}}``."""
        if not isinstance(data, Mapping):
            raise InvalidTopicMap('expected {"categories": {"<feed category>": {...}}}')
        if problem := unknown_keys_message(map(str, data), {"categories"}):
            raise InvalidTopicMap(problem)
        raw = data.get("categories", {})
        if not isinstance(raw, Mapping):
            raise InvalidTopicMap('"categories" must be an object')
        categories: dict[str, CategoryMapping] = {}
        seen: dict[str, str] = {}
        for name, spec in raw.items():
            key = category_key(name) if isinstance(name, str) else ""
            if not key:
                raise InvalidTopicMap("a category name is empty")
            if key in seen:
                raise InvalidTopicMap(
                    f"categories {seen[key]!r} and {name!r} are the same (case is ignored)"
                )
            seen[key] = name
            categories[name] = _parse_mapping(name, spec, taxonomy)
        return cls(categories)

    @classmethod
    def from_json(cls, text: str, taxonomy: Taxonomy) -> TopicMap:
        try:
            data = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidTopicMap(f"not JSON: {exc}") from exc
        return cls.parse(data, taxonomy)

    @classmethod
    def load(cls, path: Path, taxonomy: Taxonomy) -> TopicMap:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidTopicMap(f"cannot read {path}: {exc}") from exc
        try:
            return cls.from_json(text, taxonomy)
        except InvalidTopicMap as exc:
            raise InvalidTopicMap(f"{path}: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(
            {
                "categories": {
                    name: {"topics": sorted(m.topics), "countries": sorted(m.countries)}
                    for name, m in self.categories.items()
                }
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    def resolve(self, categories: Iterable[str | tuple[str, ...]]) -> Resolution:
        """Topics and countries of an entry's categories.

        A category may come with several names (an Atom label and its slug term):
        it is mapped when any of them is, and reported unmapped by its first.
        """
        by_key = {category_key(name): m for name, m in self.categories.items()}
        topics: set[str] = set()
        countries: set[str] = set()
        unmapped: list[str] = []
        for category in categories:
            names = (category,) if isinstance(category, str) else category
            mapping = next((by_key[k] for k in map(category_key, names) if k in by_key), None)
            if mapping is None:
                unmapped.append(names[0])
                continue
            topics |= mapping.topics
            countries |= mapping.countries
        return Resolution(frozenset(topics), frozenset(countries), tuple(unmapped))


def _parse_mapping(name: str, spec: object, taxonomy: Taxonomy) -> CategoryMapping:
    if not isinstance(spec, Mapping):
        raise InvalidTopicMap(
            f'category {name!r}: expected {{"topics": [...], "countries": [...]}}'
        )
    if problem := unknown_keys_message(map(str, spec), {"topics", "countries"}):
        raise InvalidTopicMap(f"category {name!r}: {problem}")
    topics, countries = spec.get("topics", []), spec.get("countries", [])
    for label, values in (("topics", topics), ("countries", countries)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidTopicMap(f"category {name!r}: {label} must be a list of codes")
    try:
        # Items name countries only: a region would mail half a continent.
        mapping = CategoryMapping(
            frozenset(taxonomy.topic_codes(topics)), frozenset(taxonomy.item_countries(countries))
        )
    except TaxonomyError as exc:
        raise InvalidTopicMap(f"category {name!r}: {exc}") from exc
    if not mapping.topics and not mapping.countries:
        raise InvalidTopicMap(f"category {name!r} maps to no topic or country")
    return mapping
