"""Journalists and their subscriptions: normalising addresses, subscription specs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from alerts.core.models import (
    Cadence,
    Journalist,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
)
from alerts.core.taxonomy import Taxonomy


class InvalidAddress(ValueError):
    pass


def normalise_email(value: str) -> str:
    """Syntax checked by email-validator (no DNS lookups); stored lower-case.

    Mailboxes are case-insensitive in practice and treating them so keeps one
    journalist from subscribing twice as Ana@ and ana@.
    """
    try:
        # Not every relay speaks SMTPUTF8: a non-ASCII mailbox name is refused
        # here, and an internationalised domain is kept in its ASCII form.
        result = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid email address {value.strip()!r}: {exc}") from exc
    return (result.ascii_email or result.normalized).lower()


@dataclass(frozen=True)
class SubscriptionSpec:
    countries: frozenset[str]
    topics: frozenset[str]
    cadence: str = Cadence.IMMEDIATE


def parse_spec(
    taxonomy: Taxonomy, countries: Iterable[str], topics: Iterable[str], cadence: str
) -> SubscriptionSpec:
    cadence = (cadence or Cadence.IMMEDIATE).strip().lower()
    if cadence not in set(Cadence):
        raise ValueError(f"unknown cadence {cadence!r} (one of {', '.join(Cadence)})")
    return SubscriptionSpec(
        frozenset(taxonomy.country_codes(countries)),
        frozenset(taxonomy.topic_codes(topics)),
        cadence,
    )


def spec_of(subscription: Subscription) -> SubscriptionSpec:
    return SubscriptionSpec(
        frozenset(subscription.countries), frozenset(subscription.topics), subscription.cadence
    )


def add_subscription(journalist: Journalist, spec: SubscriptionSpec) -> Subscription:
    subscription = Subscription(
        cadence=spec.cadence,
        all_countries=not spec.countries,
        all_topics=not spec.topics,
        country_rows=[SubscriptionCountry(country=c) for c in sorted(spec.countries)],
        topic_rows=[SubscriptionTopic(topic=t) for t in sorted(spec.topics)],
    )
    journalist.subscriptions.append(subscription)
    return subscription
