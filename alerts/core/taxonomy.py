"""Countries (ISO 3166-1 alpha-2, from pycountry), regions and the topic vocabulary."""

from __future__ import annotations

import gettext
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import pycountry
from babel import Locale

from alerts.core.i18n import N_


class TaxonomyError(ValueError):
    """An unknown country, region or topic code."""


@cache
def countries() -> dict[str, str]:
    """alpha-2 code → common name."""
    return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


@cache
def localised_countries(language: str) -> dict[str, str]:
    """alpha-2 code → name in ``language`` (pycountry ships the ISO 3166 translations)."""
    names = countries()
    if language == "en":
        return names
    try:
        catalogue = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        return names
    # pycountry's catalogues translate the official names, not every common one
    # ("Syria", "Iran", "South Korea" stay English in Arabic): CLDR's, through Babel.
    territories = Locale.parse(language).territories
    result = {}
    for code, name in names.items():
        translated = catalogue.gettext(name)
        if translated == name and code in _common_named():
            translated = territories.get(code) or name
        result[code] = translated
    return result


@cache
def _common_named() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries if getattr(c, "common_name", None))


@cache
def regions() -> dict[str, tuple[str, frozenset[str]]]:
    """region slug → (name, countries). Continents from GeoNames, see data/regions.json."""
    raw = json.loads(resources.files("alerts").joinpath("data/regions.json").read_text())
    return {
        slug: (entry["name"], frozenset(entry["countries"]))
        for slug, entry in raw["regions"].items()
    }


# The vocabulary the newsroom used in the seed listing; a press office replaces it
# with ALERTS_TOPICS_FILE (one "code,Label" per line).
DEFAULT_TOPICS: dict[str, str] = {
    "asylum": N_("Asylum"),
    "climate-change": N_("Climate change"),
    "enforced-disappearances": N_("Enforced disappearances"),
    "fair-trial": N_("Fair trial"),
    "freedom-of-expression": N_("Freedom of expression"),
    "human-rights-defenders": N_("Human rights defenders"),
    "indigenous-peoples": N_("Indigenous peoples"),
    "journalists": N_("Journalists"),
    "military-and-police": N_("Military and police"),
    "prisoners-of-conscience": N_("Prisoners of conscience"),
    "refugees-and-migrants": N_("Refugees and migrants"),
    "torture": N_("Torture"),
    "unlawful-killings": N_("Unlawful killings"),
    "womens-rights": N_("Women's rights"),
}


def load_topics(path: Path | None) -> dict[str, str]:
    if path is None:
        return dict(DEFAULT_TOPICS)
    topics: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        code, _, label = line.partition(",")
        code = code.strip().lower()
        if not code or not code.replace("-", "").isalnum():
            raise TaxonomyError(f"{path}:{number}: bad topic code {code!r}")
        topics[code] = label.strip() or code
    if not topics:
        raise TaxonomyError(f"{path}: no topics")
    return topics


@dataclass(frozen=True)
class Taxonomy:
    topics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPICS))

    def country_codes(self, values: Iterable[str]) -> set[str]:
        """Country codes and region slugs → the set of country codes; unknown ones raise."""
        result: set[str] = set()
        unknown: list[str] = []
        known_regions = regions()
        for raw in values:
            value = raw.strip()
            if not value:
                continue
            if value.upper() in countries():
                result.add(value.upper())
            elif value.lower() in known_regions:
                result |= known_regions[value.lower()][1]
            else:
                unknown.append(value)
        if unknown:
            raise TaxonomyError(
                f"unknown country or region: {', '.join(unknown)} "
                "(use ISO 3166-1 alpha-2 codes such as MX, or a region such as "
                f"{', '.join(sorted(known_regions))})"
            )
        return result

    def item_countries(self, values: Iterable[str]) -> set[str]:
        """Items name countries only: a region on an item would mail half a continent."""
        codes = [v.strip() for v in values if v.strip()]
        unknown = [v for v in codes if v.upper() not in countries()]
        if unknown:
            raise TaxonomyError(
                f"unknown country: {', '.join(unknown)} (use ISO 3166-1 alpha-2 codes such as MX)"
            )
        return {v.upper() for v in codes}

    def topic_codes(self, values: Iterable[str]) -> set[str]:
        codes = {v.strip().lower() for v in values if v.strip()}
        unknown = sorted(codes - self.topics.keys())
        if unknown:
            raise TaxonomyError(
                f"unknown topic: {', '.join(unknown)} (known: {', '.join(sorted(self.topics))})"
            )
        return codes
