"""``/subscribe?countries=MX&countries=americas&topics=asylum``: the form with those chosen.

Links from the newsroom ("get these by email") carry the list's choices. Only
known codes are kept: a prefill is a suggestion, and the form is checked again
when sent.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams

from alerts.core.taxonomy import Taxonomy, countries, regions

MAX_PREFILL = 50


def prefill(params: QueryParams, taxonomy: Taxonomy) -> dict[str, list[str]]:
    chosen: dict[str, list[str]] = {}
    picked_countries = []
    for value in params.getlist("countries")[:MAX_PREFILL]:
        if value.upper() in countries():
            picked_countries.append(value.upper())
        elif value.lower() in regions():
            picked_countries.append(value.lower())
    picked_topics = [
        value.lower()
        for value in params.getlist("topics")[:MAX_PREFILL]
        if value.lower() in taxonomy.topics
    ]
    if picked_countries:
        chosen["countries"] = picked_countries
    if picked_topics:
        chosen["topics"] = picked_topics
    return chosen
