"""Journalists and their subscriptions: normalising addresses, importing a CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import (
    Cadence,
    Journalist,
    JournalistStatus,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    Suppression,
)
from alerts.core.taxonomy import Taxonomy, TaxonomyError

CSV_COLUMNS = ("email", "name", "outlet", "countries", "topics", "cadence")


class InvalidAddress(ValueError):
    pass


class ImportFailed(ValueError):
    """Some rows are wrong; nothing was written. ``problems`` name them by line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


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


@dataclass
class ImportRow:
    line: int
    email: str
    name: str
    outlet: str
    spec: SubscriptionSpec


@dataclass
class ImportSummary:
    journalists_created: int = 0
    journalists_updated: int = 0
    subscriptions_added: int = 0
    skipped: list[str] = field(default_factory=list)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


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


def parse_csv(text: str, taxonomy: Taxonomy) -> list[ImportRow]:
    """Check every row; raise :class:`ImportFailed` naming each bad line."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ImportFailed(
            [f"line 1: missing column(s) {', '.join(missing)} (expected {','.join(CSV_COLUMNS)})"]
        )
    reader.fieldnames = header
    rows: list[ImportRow] = []
    problems: list[str] = []
    for record in reader:
        line = reader.line_num
        if None in record:
            problems.append(f"line {line}: more fields than columns")
            continue
        try:
            email = normalise_email(record["email"] or "")
            spec = parse_spec(
                taxonomy,
                _split(record["countries"]),
                _split(record["topics"]),
                record["cadence"] or "",
            )
        except (InvalidAddress, TaxonomyError, ValueError) as exc:
            problems.append(f"line {line}: {exc}")
            continue
        rows.append(
            ImportRow(
                line, email, (record["name"] or "").strip(), (record["outlet"] or "").strip(), spec
            )
        )
    if problems:
        raise ImportFailed(problems)
    if not rows:
        raise ImportFailed(["the file has no rows"])
    return rows


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


def import_rows(
    session: Session,
    rows: list[ImportRow],
    now: datetime,
    hasher: Callable[[str], str] | None = None,
) -> ImportSummary:
    """Add the journalists (active) and their subscriptions; the caller commits.

    Nobody who unsubscribed or whose address is suppressed is signed up again by
    an import: their rows are skipped and reported. Re-importing the same file
    adds nothing.
    """
    summary = ImportSummary()
    emails = sorted({row.email for row in rows})
    known: dict[str, Journalist] = {}
    suppressed: set[str] = set()
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        for found in session.scalars(select(Journalist).where(Journalist.email.in_(chunk))):
            assert found.email is not None
            known[found.email] = found
        # Erased journalists are suppressed under a keyed hash of their address.
        hashed = {hasher(e): e for e in chunk} if hasher else {}
        for found_email in session.scalars(
            select(Suppression.email).where(Suppression.email.in_(chunk + list(hashed)))
        ):
            suppressed.add(hashed.get(found_email, found_email))
    touched: set[str] = set()
    for row in rows:
        journalist: Journalist | None = known.get(row.email)
        if row.email in suppressed or (
            journalist is not None
            and journalist.status in (JournalistStatus.UNSUBSCRIBED, JournalistStatus.SUPPRESSED)
        ):
            summary.skipped.append(f"line {row.line}: {row.email} unsubscribed or suppressed")
            continue
        if journalist is None:
            journalist = Journalist(
                email=row.email,
                name=row.name,
                outlet=row.outlet,
                status=JournalistStatus.ACTIVE,
                confirmed_at=now,
                created_at=now,
            )
            session.add(journalist)
            known[row.email] = journalist
            summary.journalists_created += 1
            touched.add(row.email)
        elif row.email not in touched:
            journalist.name = row.name or journalist.name
            journalist.outlet = row.outlet or journalist.outlet
            if journalist.status == JournalistStatus.PENDING:
                journalist.status = JournalistStatus.ACTIVE
                journalist.confirmed_at = now
            summary.journalists_updated += 1
            touched.add(row.email)
        if row.spec not in {spec_of(s) for s in journalist.subscriptions}:
            add_subscription(journalist, row.spec)
            summary.subscriptions_added += 1
    return summary
