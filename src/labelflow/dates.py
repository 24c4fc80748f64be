"""Time helpers: storage is UTC, people live in Europe/Paris and read French dates."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
# French month names (CLDR fr): a table lookup, since pages format hundreds of dates.
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


_frozen: ContextVar[datetime | None] = ContextVar("labelflow_frozen_now", default=None)


def now() -> datetime:
    return _frozen.get() or datetime.now(UTC)


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    """Make `now()` return `moment` (demo histories, tests of deadlines); never used in requests."""
    token = _frozen.set(moment)
    try:
        yield
    finally:
        _frozen.reset(token)


def paris_date(moment: datetime) -> date:
    return moment.astimezone(PARIS).date()


def today() -> date:
    return paris_date(now())


def add_months(start: date, months: int) -> date:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def french_date(value: date | datetime | None) -> str:
    """'22 novembre 2026'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = paris_date(value)
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def french_datetime(value: datetime | None) -> str:
    """'22 novembre 2026 à 20:40' in Paris time."""
    if value is None:
        return ""
    local = value.astimezone(PARIS)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} à {local:%H:%M}"
