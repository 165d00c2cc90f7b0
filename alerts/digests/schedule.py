"""When a journalist's digest is due: local dates and times, DST included. Pure functions.

A digest period is named by the *local date* it is due on. Every local date
maps to exactly one instant (a time that a DST change skips is read with the
offset before the change, one that it repeats as its first occurrence), so a
DST change can neither produce two digests on one day nor lose a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from alerts.core.i18n import N_
from alerts.core.models import Cadence

WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
DEFAULT_MINUTE = 8 * 60  # 08:00


class InvalidSchedule(ValueError):
    """A time zone, time or weekday that cannot be used; the message says which."""


def _unknown(name: str) -> InvalidSchedule:
    return InvalidSchedule(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Paris)")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _unknown(name) from exc


def check_zone(name: str) -> str:
    """The IANA name if it is one (``UTC`` included), else :class:`InvalidSchedule`."""
    name = name.strip()
    if name not in _known():
        raise _unknown(name)
    return name


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


@cache
def zone_names() -> tuple[str, ...]:
    """Canonical Area/Location names, for forms: no "posix/…", "Etc/…" or legacy aliases."""
    legacy = ("posix", "right", "Etc", "SystemV", "US/", "Canada/", "Mexico/", "Chile/", "Brazil/")
    return tuple(sorted(n for n in available_timezones() if "/" in n and not n.startswith(legacy)))


def parse_minute(value: str) -> int:
    """``HH:MM`` (24-hour) → minutes after midnight."""
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidSchedule(f"digest time must be HH:MM (24-hour), got {value!r}") from exc
    return parsed.hour * 60 + parsed.minute


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def check_weekday(value: int) -> int:
    if not 0 <= value <= 6:
        raise InvalidSchedule(f"weekday must be 0 (Monday) to 6 (Sunday), got {value}")
    return value


def local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of ``minute`` on the local date ``day``."""
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    return local.astimezone(UTC)


def _is_due_day(day: date, cadence: str, weekday: int) -> bool:
    return cadence == Cadence.DAILY or day.weekday() == weekday


# Pure functions of their arguments, and a tick asks each of them the same few
# questions (one per zone, time and cadence) for every journalist it plans: cached,
# 100,000 due journalists cost a few hundred computations, not 300,000.
@lru_cache(maxsize=4096)
def due_period(
    now: datetime, cadence: str, tz_name: str, minute: int, weekday: int
) -> tuple[date, datetime]:
    """The latest period due at ``now``: its local date and its cutoff instant (UTC)."""
    tz = zone(tz_name)
    day = now.astimezone(tz).date()
    # At most a week back (plus a day for a due time later than now today).
    for _ in range(9):
        if _is_due_day(day, cadence, weekday):
            cutoff = local_instant(day, minute, tz)
            if cutoff <= now:
                return day, cutoff
        day -= timedelta(days=1)
    raise AssertionError("no due day within a week")  # pragma: no cover


@lru_cache(maxsize=4096)
def next_cutoff(after: datetime, cadence: str, tz_name: str, minute: int, weekday: int) -> datetime:
    """The first cutoff later than ``after``: the one :func:`due_period` names once it passes."""
    tz = zone(tz_name)
    day = after.astimezone(tz).date() - timedelta(days=1)  # today's may still be ahead
    for _ in range(10):
        if _is_due_day(day, cadence, weekday):
            cutoff = local_instant(day, minute, tz)
            if cutoff > after:
                return cutoff
        day += timedelta(days=1)
    raise AssertionError("no due day within a week")  # pragma: no cover


@lru_cache(maxsize=4096)
def previous_cutoff(day: date, cadence: str, tz_name: str, minute: int) -> datetime:
    """The cutoff of the period before the one due on ``day``."""
    step = timedelta(days=1 if cadence == Cadence.DAILY else 7)
    return local_instant(day - step, minute, zone(tz_name))


def lookback(cadence: str) -> timedelta:
    """How far back a digest reaches at most: bridges an outage, not a forgotten year."""
    return timedelta(days=8 if cadence == Cadence.DAILY else 29)
