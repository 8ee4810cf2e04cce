"""Input checks name every bad field at once."""

import pytest

from memoire_core.config import Limits
from memoire_core.domain import FactIn, MessageIn, Role
from memoire_core.errors import InvalidArgument, Violations
from memoire_core.services.facts import normalise_value, validate_facts
from memoire_core.services.ingest import validate_ingest

LIMITS = Limits()


def fields(call) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return [v.field for v in caught.value.violations]


def test_every_bad_message_field_is_reported_together():
    messages = [
        MessageIn(Role.USER, ""),
        MessageIn(Role.USER, "ok", client_message_id="dup"),
        MessageIn(Role.USER, "ok", client_message_id="dup"),
        MessageIn(Role.USER, "nul\x00byte"),
        MessageIn(Role.USER, "ok", metadata={"k" * 100: "v"}),
    ]
    got = fields(lambda: validate_ingest("", messages, False, LIMITS, Violations()))
    assert got == [
        "messages[0].content",
        "messages[2].client_message_id",
        "messages[3].content",
        "messages[4].metadata['" + "k" * 100 + "']",
    ]


def test_batches_and_sessions_have_limits():
    too_many = [MessageIn(Role.USER, "x")] * (LIMITS.batch_size + 1)
    assert fields(lambda: validate_ingest("s" * 200, too_many, False, LIMITS, Violations())) == [
        "session_id",
        "messages",
    ]


def test_an_empty_session_means_the_default_one():
    command = validate_ingest("", [MessageIn(Role.USER, "hi")], False, LIMITS, Violations())
    assert command.session_external_id == "default"


def test_fact_slots_must_be_dotted_lower_case_words():
    bad = [
        FactIn("x", slot="Location Home"),
        FactIn("x", slot="location..home"),
        FactIn("x", slot="location.home", confidence=1.5),
    ]
    assert fields(lambda: validate_facts(bad, "", LIMITS)) == [
        "facts[0].slot",
        "facts[1].slot",
        "facts[2].confidence",
    ]


def test_restatements_compare_equal_but_different_values_do_not():
    assert normalise_value("Lives in Dallas.") == normalise_value("lives in  dallas")
    assert normalise_value("likes dark mode") != normalise_value("likes light mode")
    assert normalise_value("allergic to peanuts") != normalise_value("not allergic to peanuts")
