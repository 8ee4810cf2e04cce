"""The date and period phrases Recall reads in a query, resolved to windows of said times."""

from datetime import UTC, datetime

import pytest

from memoire_core.services import temporal

# A Thursday: "last week" is the calendar week of 4 to 10 September 2023.
REFERENCE = datetime(2023, 9, 14, 15, 0, tzinfo=UTC)


def day(year: int, month: int, d: int) -> datetime:
    return datetime(year, month, d, tzinfo=UTC)


def window(query: str) -> tuple[datetime, datetime]:
    mention = temporal.find(query)
    assert mention is not None, f"no period found in {query!r}"
    period = mention.resolve(REFERENCE)
    return period.start, period.end


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("What did I do in May 2023?", day(2023, 5, 1), day(2023, 6, 1)),
        ("How long had Tim played piano as of September 2023?", day(2023, 9, 1), day(2023, 10, 1)),
        ("What did Joanna do in 2022?", day(2022, 1, 1), day(2023, 1, 1)),
        ("What dish did Nate make on 9 November, 2022?", day(2022, 11, 9), day(2022, 11, 10)),
        ("Who called on October 13, 2023?", day(2023, 10, 13), day(2023, 10, 14)),
        ("What book did Tim finish on 8th December, 2023?", day(2023, 12, 8), day(2023, 12, 9)),
        ("What happened on 2023-03-05?", day(2023, 3, 5), day(2023, 3, 6)),
        ("Where was Tim the week before 16 November 2023?", day(2023, 11, 9), day(2023, 11, 17)),
        ("Which puppy came two weeks before August 11, 2023?", day(2023, 7, 28), day(2023, 8, 12)),
        ("Which state did Joanna visit in summer 2021?", day(2021, 6, 1), day(2021, 9, 1)),
        ("What did we plan for the winter of 2022?", day(2022, 12, 1), day(2023, 3, 1)),
    ],
)
def test_absolute_dates_and_periods_name_their_own_window(query, start, end):
    assert window(query) == (start, end)


def test_parts_of_a_period_narrow_it():
    start, end = window("What happened at the end of summer 2023?")
    assert day(2023, 7, 31) <= start < day(2023, 8, 2) and end == day(2023, 9, 1)
    assert window("Which tournament in the beginning of November 2022?")[0] == day(2022, 11, 1)
    assert window("In the second week of November 2023?") == (day(2023, 11, 8), day(2023, 11, 15))
    assert window("The first half of September 2022?")[1] == day(2022, 9, 16)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("What did I do last year?", day(2022, 1, 1), day(2023, 1, 1)),
        ("What did I read last week?", day(2023, 9, 4), day(2023, 9, 11)),
        ("What did I buy last month?", day(2023, 8, 1), day(2023, 9, 1)),
        ("Where did I go last weekend?", day(2023, 9, 9), day(2023, 9, 11)),
        ("What did I cook yesterday?", day(2023, 9, 13), day(2023, 9, 14)),
        ("What did I say this year?", day(2023, 1, 1), day(2024, 1, 1)),
        ("Where did we hike last summer?", day(2023, 6, 1), day(2023, 9, 1)),
        ("When did Melanie go camping in June?", day(2023, 6, 1), day(2023, 7, 1)),
        ("What kind of deal did John get in December?", day(2022, 12, 1), day(2023, 1, 1)),
        ("What did he give me on Aug 15th?", day(2023, 8, 15), day(2023, 8, 16)),
    ],
)
def test_relative_phrases_are_read_from_the_reference_time(query, start, end):
    mention = temporal.find(query)
    assert mention is not None and mention.relative
    assert window(query) == (start, end)


def test_an_amount_of_time_ago_is_a_unit_wide_window_that_far_back():
    start, end = window("What did I start two weeks ago?")
    assert start < day(2023, 8, 31) < end and end - start == temporal.DAY * 7
    start, end = window("Where did Caroline move from 4 years ago?")
    assert start.year == 2019 and end.year == 2020


def test_only_in_or_during_asks_about_the_period_alone():
    assert temporal.find("What did I do in May 2023?").strict  # type: ignore[union-attr]
    assert temporal.find("during 2022, where did I live?").strict  # type: ignore[union-attr]
    assert not temporal.find("How long, as of September 2023?").strict  # type: ignore[union-attr]
    assert not temporal.find("What did I do last year?").strict  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "query",
    [
        "Where do I live?",
        "May I ask what my favourite colour is?",
        "How many times did I march in protest?",
        "What did I say about the 18th birthday?",
        "Which month was John in Italy?",
        "What did Melanie paint recently?",
    ],
)
def test_queries_without_a_date_name_no_period(query):
    assert temporal.find(query) is None


def test_the_fit_is_whole_inside_the_window_and_shortly_after_and_fades_outside():
    period = temporal.find("in May 2023").resolve(REFERENCE)  # type: ignore[union-attr]
    assert period.fit(day(2023, 5, 20)) == 1.0
    assert period.fit(day(2023, 6, 5)) == 1.0  # told a few days later
    assert 0 < period.fit(day(2023, 7, 20)) < period.fit(day(2023, 6, 25)) < 1.0
    assert period.fit(day(2023, 3, 1)) < period.fit(day(2023, 4, 25)) < 1.0


def test_between_two_dates_spans_both():
    query = "Where was John between August 11 and August 15 2023?"
    assert window(query) == (day(2023, 8, 11), day(2023, 8, 16))
