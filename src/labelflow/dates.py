"""Time helpers: storage is UTC, people live in Europe/Paris and read French dates."""

from __future__ import annotations

import calendar
import re
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


# How the pages ask for a date and how people type one; ISO (2026-03-15) is accepted too.
TYPED_FORMAT = "jj/mm/aaaa"
EXAMPLE = "par exemple 15/03/2026"
_TYPED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d+)$")
_ISO = re.compile(r"^(\d+)-(\d{1,2})-(\d{1,2})$")

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


def _day(value: date) -> str:
    """'1er mars 2026', '22 novembre 2026': the first of the month is an ordinal in French."""
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


def _easter(year: int) -> date:
    """Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    lw = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * lw) // 433
    month, day = divmod(h + lw - 7 * m + 114, 31)
    return date(year, month, day + 1)


# France's public holidays that fall on a fixed date (month, day).
_FIXED_HOLIDAYS = {(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)}


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a French public holiday (Easter Monday, Ascension and Whit
    Monday included)."""
    if day.weekday() >= 5 or (day.month, day.day) in _FIXED_HOLIDAYS:
        return False
    easter = _easter(day.year)
    return (day - easter).days not in (1, 39, 50)


def french_date(value: date | datetime | None) -> str:
    """'22 novembre 2026', '1er décembre 2026'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = paris_date(value)
    return _day(value)


def french_datetime(value: datetime | None) -> str:
    """'22 novembre 2026 à 20:40' in Paris time."""
    if value is None:
        return ""
    local = value.astimezone(PARIS)
    return f"{_day(local.date())} à {local:%H:%M}"


def parse_date(text: str) -> date:
    """A date typed as « jj/mm/aaaa » (or ISO, « aaaa-mm-jj »); ValueError in French saying
    what is wrong with an impossible one (a 31 February, a year 22026)."""
    text = text.strip()
    if match := _TYPED.match(text):
        day, month, year = (int(g) for g in match.groups())
    elif match := _ISO.match(text):
        year, month, day = (int(g) for g in match.groups())
    else:
        raise ValueError(f"Date illisible : écrivez-la au format {TYPED_FORMAT}, {EXAMPLE}.")
    if not 1000 <= year <= 9999:
        raise ValueError(
            f"Date impossible : l'année {year} doit s'écrire avec 4 chiffres "
            f"({TYPED_FORMAT}, {EXAMPLE})."
        )
    if not 1 <= month <= 12:
        raise ValueError(f"Date impossible : le mois {month} n'existe pas (de 1 à 12).")
    last = calendar.monthrange(year, month)[1]
    if day < 1:
        raise ValueError("Date impossible : le jour 0 n'existe pas.")
    if day > last:
        raise ValueError(
            f"Date impossible : {MONTHS[month - 1]} {year} n'a que {last} jours, "
            f"le {day} n'existe pas."
        )
    return date(year, month, day)
