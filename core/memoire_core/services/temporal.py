"""The date or period a recall query names ("in May 2023", "last week", "two weeks ago"), and
how well the time a memory was said fits it.

A small reader of plain English date phrases, not a general date parser: it finds the most
precise period a query names and resolves it to a window of said times. Absolute phrases
("on 9 November, 2022", "May 2023", "end of summer 2023", "2022") need nothing else; relative
ones ("last year", "last week", "two weeks ago", "in June") are resolved against a reference
time, the user's latest message, which is "now" for the conversation (a history imported from
2023 asks "last year" of 2023, not of today).

People tell what they did after doing it, so a window keeps a grace period after its end: a
trip "in May" is often told in early June. Outside that, the fit fades with the distance.
Recall weighs by the fit rather than filtering, even for "in <period>" (``strict``, which has
a weight of its own): the telling sometimes falls outside the period the question names, and
a filter would lose it outright where a weight lets a strong match still rank.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)
# How long after a period things said still count as about it, at most and at least.
GRACE_MAX = timedelta(days=14)
GRACE_MIN = timedelta(days=1)
# How fast the fit fades outside the window: one scale away from it, the fit is 1/e.
FADE_MAX = timedelta(days=30)

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# Meteorological seasons of the northern hemisphere: first month, three months long.
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
    "several": 3,
}
UNIT_DAYS = {"day": 1, "week": 7, "weekend": 7, "month": 30, "year": 365}
# Parts of a period: "early May", "end of summer 2023", "first half of September".
PARTS = {
    "early": (0.0, 1 / 3),
    "beginning of": (0.0, 1 / 3),
    "start of": (0.0, 1 / 3),
    "mid": (1 / 3, 2 / 3),
    "middle of": (1 / 3, 2 / 3),
    "late": (2 / 3, 1.0),
    "end of": (2 / 3, 1.0),
    "first half of": (0.0, 0.5),
    "second half of": (0.5, 1.0),
}
WEEK_OF = {"first": 0, "second": 1, "third": 2, "fourth": 3}

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
# Full names only when a month stands alone: "may" and "march" also need a preposition.
_MONTH_ALONE = (
    r"(?:(?:in|during|of|since|by|until|last|this|early|late|mid)\s+(?P<month>may|march)"
    r"|(?P<month2>january|february|april|june|july|august|september|october|november|december))"
)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_SEASON = r"(?P<season>spring|summer|fall|autumn|winter)"
_PART = (
    r"(?:(?:the\s+)?(?P<part>"
    + "|".join(re.escape(p) for p in sorted(PARTS, key=len, reverse=True))
    + r")[\s-]+(?:the\s+)?"
    r"|the\s+(?P<week>first|second|third|fourth|last)\s+week\s+of\s+)?"
)
_NUMBER = r"(?P<n>\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True)) + r")"
_UNIT = r"(?P<unit>day|weekend|week|month|year)s?"


# Resolves a phrase to its window (start, end) from a reference time.
Resolver = Callable[[datetime], tuple[datetime, datetime]]


@dataclass(frozen=True)
class Period:
    """A window of said times, ``start`` inclusive, ``end`` exclusive (UTC)."""

    start: datetime
    end: datetime
    # True when the query asks about this period alone ("in May 2023"), not merely names it.
    strict: bool
    # The words of the query it was read from.
    text: str

    @property
    def told_by(self) -> datetime:
        """The end of the window with its grace: what is said until then may tell of it."""
        return self.end + min(GRACE_MAX, max(GRACE_MIN, (self.end - self.start) / 2))

    def fit(self, said: datetime) -> float:
        """How well a memory said at ``said`` fits: 1 inside the window or shortly after it,
        fading with the distance outside."""
        length = self.end - self.start
        if said < self.start:
            gap = self.start - said
        elif said >= self.told_by:
            gap = said - self.told_by
        else:
            return 1.0
        fade = min(FADE_MAX, max(DAY, length / 2))
        return math.exp(-(gap / fade))


@dataclass(frozen=True)
class Mention:
    """A date phrase found in a query, resolved once the reference time is known."""

    text: str
    strict: bool
    # Whether the window depends on the reference time ("last week", "in June").
    relative: bool
    window: Resolver

    def resolve(self, reference: datetime) -> Period:
        """The period this phrase names, seen from ``reference``."""
        start, end = self.window(reference)
        return Period(start, end, self.strict, self.text)


def find(query: str) -> Mention | None:
    """The most precise date or period the query names; None when it names none."""
    text = " ".join(query.lower().split())
    for reader in _READERS:
        found = reader(text)
        if found is not None:
            return found
    return None


# --- calendar helpers -----------------------------------------------------------------------


def _fixed(window: tuple[datetime, datetime]) -> Resolver:
    """The resolver of an absolute phrase: the same window from any reference."""
    return lambda _reference: window


def _trailing(span: timedelta) -> Resolver:
    """The span up to the reference's day ("the past week")."""
    return lambda reference: (reference - span, reference + DAY)


def _calendar_before(unit: str, back: int) -> Resolver:
    return lambda reference: _calendar(unit, reference, back)


def _day(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def _month_window(year: int, month: int, months: int = 1) -> tuple[datetime, datetime]:
    end_month = month - 1 + months
    return _day(year, month, 1), _day(year + end_month // 12, end_month % 12 + 1, 1)


def _part(window: tuple[datetime, datetime], part: str | None) -> tuple[datetime, datetime]:
    if part is None:
        return window
    low, high = PARTS[part]
    start, end = window
    return start + (end - start) * low, start + (end - start) * high


def _week_of(window: tuple[datetime, datetime], week: str | None) -> tuple[datetime, datetime]:
    if week is None:
        return window
    start, end = window
    if week == "last":
        return end - 7 * DAY, end
    first = start + 7 * DAY * WEEK_OF[week]
    return first, min(end, first + 7 * DAY)


def _latest(month: int, day: int, reference: datetime) -> datetime:
    """The latest ``day month`` not after the reference's day (the year a year-less date
    most likely means)."""
    year = reference.year
    while True:
        try:
            when = _day(year, month, day)
        except ValueError:  # 29 February of a common year, 31 April
            year -= 1
            continue
        if when <= reference:
            return when
        year -= 1


def _strict(text: str, start: int) -> bool:
    """Whether the phrase starting at ``start`` is governed by "in" or "during"."""
    return re.search(r"\b(?:in|during)\s+(?:the\s+)?$", text[:start]) is not None


def _month_of(match: re.Match[str]) -> int:
    return MONTHS[match.group("month") or match.group("month2")]


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


# --- readers, most precise first ----------------------------------------------------------


def _span_before(text: str, start: int) -> timedelta | None:
    """The span a phrase like "two weeks before" or "the week before" puts before a date."""
    before = text[:start]
    counted = re.search(_NUMBER + r"\s+" + _UNIT + r"\s+before\s+$", before)
    if counted:
        return UNIT_DAYS[counted.group("unit")] * _number(counted.group("n")) * DAY
    if re.search(r"\b(?:day|week|weekend|sunday|saturday|\w+day)\s+before\s+$", before):
        return 7 * DAY
    return None


_FULL_DATES = (
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mm>[01]\d)-(?P<day>[0-3]\d)\b"),
    re.compile(r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r",?\s*" + _YEAR + r"\b"),
    re.compile(r"\b" + _MONTH + r"\s+" + _DAY + r"\s*,?\s*" + _YEAR + r"\b"),
)


def _full_date(text: str) -> Mention | None:
    """ "on 9 November, 2022", "November 9, 2022", "2022-11-09"; "the week before <date>"."""
    for pattern in _FULL_DATES:
        m = pattern.search(text)
        if m is None:
            continue
        month = int(m.group("mm")) if "mm" in m.groupdict() else MONTHS[m.group("month")]
        try:
            day = _day(int(m.group("year")), month, int(m.group("day")))
        except ValueError:
            continue
        span = _span_before(text, m.start())
        start = day - span if span is not None else day
        return Mention(m.group(0), False, False, _fixed((start, day + DAY)))
    return None


_DAY_MONTH = (
    re.compile(r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r"\b(?!\s*,?\s*(?:19|20)\d\d)"),
    re.compile(r"\b" + _MONTH + r"\s+" + _DAY + r"\b(?!\s*,?\s*(?:19|20)\d\d)(?!:)"),
)


def _day_month(text: str) -> Mention | None:
    """ "on 3 June", "August 11": the latest such day before the reference."""
    for pattern in _DAY_MONTH:
        m = pattern.search(text)
        if m is None or int(m.group("day")) not in range(1, 32):
            continue
        month, day = MONTHS[m.group("month")], int(m.group("day"))
        span = _span_before(text, m.start()) or timedelta(0)

        def window(
            ref: datetime, month: int = month, day: int = day, span: timedelta = span
        ) -> tuple[datetime, datetime]:
            when = _latest(month, day, ref)
            return when - span, when + DAY

        return Mention(m.group(0), False, True, window)
    return None


_MONTH_YEAR = re.compile(_PART + r"\b" + _MONTH + r",?\s+(?:of\s+)?" + _YEAR + r"\b")
_SEASON_YEAR = re.compile(_PART + r"\b" + _SEASON + r",?\s+(?:of\s+)?" + _YEAR + r"\b")


def _month_year(text: str) -> Mention | None:
    """ "May 2023", "beginning of November 2022", "the second week of May 2023"."""
    m = _MONTH_YEAR.search(text)
    if m is None:
        return None
    window = _month_window(int(m.group("year")), MONTHS[m.group("month")])
    window = _week_of(_part(window, m.group("part")), m.group("week"))
    strict = _strict(text, m.start())
    return Mention(m.group(0).strip(), strict, False, _fixed(window))


def _season_window(year: int, season: str) -> tuple[datetime, datetime]:
    return _month_window(year, SEASONS[season], 3)


def _season_year(text: str) -> Mention | None:
    """ "summer 2021", "end of summer 2023", "the winter of 2022" (December to February)."""
    m = _SEASON_YEAR.search(text)
    if m is None:
        return None
    window = _part(_season_window(int(m.group("year")), m.group("season")), m.group("part"))
    strict = _strict(text, m.start())
    return Mention(m.group(0).strip(), strict, False, _fixed(window))


_AGO = re.compile(r"\b" + _NUMBER + r"\s+" + _UNIT + r"\s+ago\b")


def _ago(text: str) -> Mention | None:
    """ "two weeks ago", "3 days ago": a unit wide, centred that far before the reference."""
    m = _AGO.search(text)
    if m is None:
        return None
    unit = UNIT_DAYS[m.group("unit")] * DAY
    back = unit * _number(m.group("n"))

    def window(ref: datetime) -> tuple[datetime, datetime]:
        return ref - back - unit / 2, ref - back + unit / 2

    return Mention(m.group(0), False, True, window)


_NAMED_DAY = re.compile(
    r"\b(?P<which>the day before yesterday|yesterday|last night|today|tonight)\b"
)
_LAST = re.compile(r"\b(?P<which>last|this|past|previous)\s+(?P<unit>weekend|week|month|year)\b")
_LAST_SEASON = re.compile(r"\b(?P<which>last|this)\s+" + _SEASON + r"\b")


def _calendar(unit: str, ref: datetime, back: int) -> tuple[datetime, datetime]:
    """The calendar week, month or year ``back`` units before the reference's."""
    day = _day(ref.year, ref.month, ref.day)
    if unit == "year":
        return _day(ref.year - back, 1, 1), _day(ref.year - back + 1, 1, 1)
    if unit == "month":
        index = ref.year * 12 + ref.month - 1 - back
        return _month_window(index // 12, index % 12 + 1)
    monday = day - day.weekday() * DAY - 7 * back * DAY
    if unit == "weekend":
        saturday = monday + 5 * DAY  # "last weekend" is last week's, even said on a Sunday
        return saturday, saturday + 2 * DAY
    return monday, monday + 7 * DAY


def _relative(text: str) -> Mention | None:
    """ "yesterday", "last week", "this month", "last year", "last summer"."""
    m = _NAMED_DAY.search(text)
    if m is not None:
        back = {"the day before yesterday": 2, "yesterday": 1, "last night": 1}.get(m["which"], 0)

        def day_window(ref: datetime, back: int = back) -> tuple[datetime, datetime]:
            day = _day(ref.year, ref.month, ref.day) - back * DAY
            return day, day + DAY

        return Mention(m.group(0), False, True, day_window)
    m = _LAST.search(text)
    if m is not None:
        unit, back = m["unit"], 0 if m["which"] == "this" else 1
        if m["which"] == "past":  # "the past week": the last seven days, not the calendar week
            return Mention(m.group(0), False, True, _trailing(UNIT_DAYS[unit] * DAY))
        return Mention(m.group(0), False, True, _calendar_before(unit, back))
    m = _LAST_SEASON.search(text)
    if m is not None:
        return Mention(m.group(0), False, True, _season_before(m["season"], m["which"] == "last"))
    return None


def _season_before(season: str, last: bool) -> Resolver:
    def window(ref: datetime) -> tuple[datetime, datetime]:
        year = ref.year
        while True:
            start, end = _season_window(year, season)
            # "this summer" is the one under way or next; "last summer" the latest one over.
            if (end <= ref) if last else (start <= ref + 183 * DAY):
                return start, end
            year -= 1

    return window


_SEASON_ALONE = re.compile(_PART + r"\b(?:the\s+)?" + _SEASON + r"\b")


def _season(text: str) -> Mention | None:
    """ "during the summer", "end of summer": the latest one begun before the reference."""
    m = _SEASON_ALONE.search(text)
    if m is None:
        return None
    season, part = m.group("season"), m.group("part")

    def window(ref: datetime) -> tuple[datetime, datetime]:
        year = ref.year
        while _season_window(year, season)[0] > ref:
            year -= 1
        return _part(_season_window(year, season), part)

    return Mention(m.group(0).strip(), False, True, window)


_YEAR_ALONE = re.compile(r"\b" + _YEAR + r"\b")


def _year(text: str) -> Mention | None:
    """ "in 2022", "2023"."""
    m = _YEAR_ALONE.search(text)
    if m is None:
        return None
    year = int(m.group("year"))
    strict = _strict(text, m.start())
    return Mention(m.group(0), strict, False, _fixed((_day(year, 1, 1), _day(year + 1, 1, 1))))


_MONTH_ALONE_RE = re.compile(_PART + r"\b" + _MONTH_ALONE + r"\b")


def _month(text: str) -> Mention | None:
    """ "in June", "early March": the latest such month begun before the reference."""
    m = _MONTH_ALONE_RE.search(text)
    if m is None:
        return None
    month, part, week = _month_of(m), m.group("part"), m.group("week")

    def window(ref: datetime) -> tuple[datetime, datetime]:
        year = ref.year if month <= ref.month else ref.year - 1
        return _week_of(_part(_month_window(year, month), part), week)

    return Mention(m.group(0).strip(), False, True, window)


_BETWEEN = re.compile(r"\bbetween\s+(?P<a>.+?)\s+and\s+(?P<b>[^?!;]+)")


def _between(text: str) -> Mention | None:
    """ "between August 11 and August 15 2023": from the first day to the end of the second,
    the first read in the year of the second."""
    m = _BETWEEN.search(text)
    if m is None:
        return None
    last = _full_date(m["b"]) or _month_year(m["b"])
    first = _full_date(m["a"]) or _day_month(m["a"]) or _month(m["a"])
    if last is None or first is None:
        return None
    end = last.window(datetime.now(UTC))[1]
    start = first.window(end - DAY)[0]
    return Mention(m.group(0), False, False, _fixed((start, end))) if start < end else None


_READERS: tuple[Callable[[str], Mention | None], ...] = (
    _between,
    _full_date,
    _day_month,
    _month_year,
    _season_year,
    _ago,
    _relative,
    _season,
    _year,
    _month,
)
