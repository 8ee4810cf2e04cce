"""Facts that stay true (issue 12): polarity, plans, unknown slots, retractions that match
nothing, and deletion as a correction, through AddMemories, Recall, ListMemories, Conscious,
DeleteMemory and GetMemoryHistory."""

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoire_proto.v1 import memory_pb2
from memoire_proto.v1 import memory_service_pb2 as pb
from tests.integration.helpers import fact, listed, recalled

NEGATIVE = memory_pb2.POLARITY_NEGATIVE
POSITIVE = memory_pb2.POLARITY_POSITIVE
PLANNED = memory_pb2.TEMPORAL_STATE_PLANNED
PAST = memory_pb2.TEMPORAL_STATE_PAST
MULTI = pb.SLOT_CARDINALITY_MULTI
CREATED = memory_pb2.FACT_OUTCOME_CREATED
RETRACTED = memory_pb2.FACT_OUTCOME_RETRACTED
UNMATCHED = memory_pb2.FACT_OUTCOME_UNMATCHED
SUPERSEDED_EVENT = memory_pb2.MEMORY_EVENT_TYPE_SUPERSEDED
RESTORED_EVENT = memory_pb2.MEMORY_EVENT_TYPE_RESTORED
RETRACTED_EVENT = memory_pb2.MEMORY_EVENT_TYPE_RETRACTED


def write(api: Any, user: str, *facts: pb.FactInput) -> pb.AddMemoriesResponse:
    reply: pb.AddMemoriesResponse = api.memory.AddMemories(
        pb.AddMemoriesRequest(user_id=user, facts=list(facts))
    )
    return reply


def one(api: Any, user: str, item: pb.FactInput) -> memory_pb2.Memory:
    [memory] = write(api, user, item).memories
    return memory


def get(api: Any, memory_id: str) -> memory_pb2.Memory:
    memory: memory_pb2.Memory = api.memory.GetMemory(
        pb.GetMemoryRequest(memory_id=memory_id)
    ).memory
    return memory


def history(api: Any, memory_id: str) -> list[Any]:
    return list(api.memory.GetMemoryHistory(pb.GetMemoryHistoryRequest(memory_id=memory_id)).events)


def delete(api: Any, memory_id: str) -> None:
    api.memory.DeleteMemory(pb.DeleteMemoryRequest(memory_id=memory_id))


def current(api: Any, user: str, slot: str) -> list[str]:
    return sorted(m.content for m in listed(api, user, slot=slot, current_view_only=True))


# 1. Polarity is part of a fact.


def test_a_denial_retires_the_allergy_it_denies_instead_of_merging_into_it(api):
    allergic = one(api, "u1", fact("Allergic to peanuts", "allergy", value="peanuts"))
    reply = write(
        api, "u1", fact("Not allergic to peanuts", "allergy", value="peanuts", polarity=NEGATIVE)
    )

    [denial] = reply.memories
    assert reply.results[0].outcome == CREATED
    assert denial.id != allergic.id
    assert denial.polarity == NEGATIVE and denial.current
    assert get(api, allergic.id).superseded_by == denial.id
    assert allergic.polarity == POSITIVE
    assert current(api, "u1", "allergy") == ["Not allergic to peanuts"]
    [event] = [e for e in history(api, allergic.id) if e.type == SUPERSEDED_EVENT]
    assert "contradicted" in event.cause


def test_affirming_again_retires_the_denial(api):
    one(api, "u1", fact("Allergic to peanuts", "allergy", value="peanuts"))
    denial = one(api, "u1", fact("Not allergic", "allergy", value="peanuts", polarity=NEGATIVE))
    again = one(api, "u1", fact("Allergic to peanuts after all", "allergy", value="peanuts"))

    assert get(api, denial.id).superseded_by == again.id
    assert current(api, "u1", "allergy") == ["Allergic to peanuts after all"]


def test_a_restated_denial_refreshes_the_denial_not_the_claim(api):
    one(api, "u1", fact("Allergic to peanuts", "allergy", value="peanuts"))
    denial = one(api, "u1", fact("Not allergic", "allergy", value="peanuts", polarity=NEGATIVE))
    again = one(api, "u1", fact("Not allergic!", "allergy", value="peanuts", polarity=NEGATIVE))

    assert again.id == denial.id
    assert len(listed(api, "u1", slot="allergy")) == 2


# 2. Plans are not "now".


def test_a_plan_leaves_the_current_view_and_is_retired_when_the_slot_moves_on(api):
    one(api, "u1", fact("Lives in Dallas", "location.home", value="Dallas"))
    plan = one(
        api,
        "u1",
        fact(
            "Will move to Berlin next month",
            "location.home",
            value="Berlin",
            temporal_state=PLANNED,
        ),
    )
    assert plan.current is False
    berlin = one(api, "u1", fact("Lives in Berlin", "location.home", value="Berlin"))
    one(api, "u1", fact("Lives in Paris", "location.home", value="Paris"))

    query = "will I move to Berlin or live in Paris?"
    assert plan.id in [m.id for m in recalled(api, "u1", query, limit=50)]
    now = recalled(api, "u1", query, current_view_only=True, limit=50)
    assert [m.content for m in now] == ["Lives in Paris"]
    assert current(api, "u1", "location.home") == ["Lives in Paris"]
    retired = get(api, plan.id)
    assert retired.superseded_by == berlin.id
    assert "plan was overtaken" in history(api, plan.id)[-1].cause


def test_conscious_lists_plans_apart_from_current_facts(api):
    one(api, "u1", fact("Lives in Dallas", "location.home", value="Dallas"))
    one(
        api, "u1", fact("Moving to Berlin", "location.home", value="Berlin", temporal_state=PLANNED)
    )

    reply = api.memory.Conscious(pb.ConsciousRequest(user_id="u1"))

    assert [m.content for m in reply.memories] == ["Lives in Dallas"]
    essentials, plans = reply.prompt_block.split("Plans:")
    assert "Lives in Dallas" in essentials and "Moving to Berlin" not in essentials
    assert '"Moving to Berlin" (location.home, planned;' in plans


# 3. Unknown slots are single-valued unless the caller says otherwise.


def test_an_unregistered_slot_never_holds_a_claim_and_its_denial(api):
    slot = "health.allergy.peanuts"
    one(api, "u1", fact("Allergic to peanuts", slot, value="peanuts"))
    one(api, "u1", fact("Not allergic to peanuts", slot, value="peanuts", polarity=NEGATIVE))

    assert current(api, "u1", slot) == ["Not allergic to peanuts"]
    now = recalled(api, "u1", "allergic to peanuts", current_view_only=True, limit=50)
    assert [m.content for m in now] == ["Not allergic to peanuts"]


def test_an_unregistered_slot_holds_one_value_unless_the_caller_says_many(api):
    one(api, "u1", fact("Drives a Volvo", "vehicle.car", value="Volvo"))
    one(api, "u1", fact("Drives a Tesla", "vehicle.car", value="Tesla"))
    one(api, "u1", fact("Reads Le Monde", "media.paper", value="Le Monde", slot_cardinality=MULTI))
    one(api, "u1", fact("Reads El País", "media.paper", value="El País", slot_cardinality=MULTI))

    assert current(api, "u1", "vehicle.car") == ["Drives a Tesla"]
    assert current(api, "u1", "media.paper") == ["Reads El País", "Reads Le Monde"]


# 4. Retractions say what they did.


def test_a_retraction_without_a_value_takes_back_the_fact_its_text_names(api):
    chess = one(api, "u1", fact("Plays chess", "hobby"))
    reply = write(api, "u1", fact("No longer plays chess", "hobby", retract=True))

    assert reply.results[0].outcome == RETRACTED
    assert reply.results[0].memory_id == chess.id
    assert current(api, "u1", "hobby") == []
    assert [m.content for m in listed(api, "u1")] == ["Plays chess"]  # nothing else stored
    assert history(api, chess.id)[-1].type == RETRACTED_EVENT


def test_a_retraction_that_matches_nothing_is_reported_and_stores_nothing(api):
    one(api, "u1", fact("Plays chess", "hobby", value="chess"))
    reply = write(
        api,
        "u1",
        fact("No longer plays golf", "hobby", retract=True),
        fact("Likes tea", "preference.drink"),
    )

    unmatched, stored = reply.results
    assert unmatched.outcome == UNMATCHED and unmatched.memory_id == ""
    assert "hobby" in unmatched.reason and "nothing was retracted" in unmatched.reason
    assert unmatched.content == "No longer plays golf"
    assert stored.outcome == CREATED
    assert [m.content for m in reply.memories] == ["Likes tea"]
    assert current(api, "u1", "hobby") == ["Plays chess"]
    assert sorted(m.content for m in listed(api, "u1")) == ["Likes tea", "Plays chess"]


def test_a_retried_request_reports_the_same_outcomes(api):
    facts = [fact("No longer plays golf", "hobby", retract=True), fact("Likes tea")]
    request = pb.AddMemoriesRequest(user_id="u1", facts=facts, request_id="r-1")
    first = api.memory.AddMemories(request)
    again = api.memory.AddMemories(request)

    assert [r.outcome for r in again.results] == [UNMATCHED, CREATED]
    assert again.results[0].reason == first.results[0].reason
    assert [m.id for m in again.memories] == [m.id for m in first.memories]


# 5. Delete is a correction.


def test_deleting_a_wrong_employer_restores_the_one_it_replaced(api):
    foo = one(api, "u1", fact("Works at Foo", "employer", value="Foo"))
    acme = one(api, "u1", fact("Works at Acme", "employer", value="Acme"))

    delete(api, acme.id)

    restored = get(api, foo.id)
    assert restored.current and restored.superseded_by == ""
    assert current(api, "u1", "employer") == ["Works at Foo"]
    last = history(api, foo.id)[-1]
    assert last.type == RESTORED_EVENT and last.related_memory_id == acme.id


def test_deleting_a_value_in_the_middle_leaves_no_dangling_pointer(api):
    foo = one(api, "u1", fact("Works at Foo", "employer", value="Foo"))
    acme = one(api, "u1", fact("Works at Acme", "employer", value="Acme"))
    bar = one(api, "u1", fact("Works at Bar", "employer", value="Bar"))

    delete(api, acme.id)

    assert get(api, foo.id).superseded_by == bar.id
    assert current(api, "u1", "employer") == ["Works at Bar"]
    assert history(api, foo.id)[-1].related_memory_id == bar.id


def test_deleting_a_denial_brings_back_the_claim(api):
    claim = one(api, "u1", fact("Allergic to peanuts", "allergy", value="peanuts"))
    denial = one(api, "u1", fact("Not allergic", "allergy", value="peanuts", polarity=NEGATIVE))

    delete(api, denial.id)

    assert get(api, claim.id).current


def test_a_fresh_user_sees_no_facts(api):
    assert listed(api, f"nobody-{uuid.uuid4()}") == []


# Any sequence of writes and deletes keeps the promises above.

SLOT_KINDS = {"employer": True, "allergy": False, "custom.gadget": True}  # slot: single-valued
VALUES = ("oak", "elm")
STEPS = st.tuples(
    st.sampled_from(["affirm", "negate", "plan", "past", "retract", "retract_text", "delete"]),
    st.sampled_from(VALUES),
    st.integers(0, 50),
)


def step_fact(slot: str, action: str, value: str) -> pb.FactInput:
    """The fact one step writes about ``value``."""
    if action == "affirm":
        return fact(f"Has {value}", slot, value=value)
    if action == "negate":
        return fact(f"Does not have {value}", slot, value=value, polarity=NEGATIVE)
    if action == "plan":
        return fact(f"Will get {value}", slot, value=value, temporal_state=PLANNED)
    if action == "past":
        return fact(f"Used to have {value}", slot, value=value, temporal_state=PAST)
    if action == "retract":
        return fact(f"No longer has {value}", slot, value=value, retract=True)
    return fact(f"No longer has {value}", slot, retract=True)


def state_of(memory: memory_pb2.Memory) -> tuple[bool, str]:
    """Whether nothing retired the memory, and what replaced it."""
    live = not memory.superseded_by and not memory.HasField("valid_to_time")
    return live, memory.superseded_by


# What a change of state must leave in the memory's history.
EXPLAINED_BY = {
    "created": {memory_pb2.MEMORY_EVENT_TYPE_CREATED},
    "retired": {SUPERSEDED_EVENT, RETRACTED_EVENT},
    "restored": {RESTORED_EVENT},
    "repointed": {SUPERSEDED_EVENT},
    "deleted": {memory_pb2.MEMORY_EVENT_TYPE_DELETED},
}


def change(before: tuple[bool, str] | None, after: tuple[bool, str] | None) -> str | None:
    if before is None:
        return "created" if after is not None else None
    if after is None:
        return "deleted"
    if before[0] and not after[0]:
        return "retired"
    if after[0] and not before[0]:
        return "restored"
    return "repointed" if before[1] != after[1] else None


def check_invariants(api: Any, user: str, slot: str, single: bool) -> None:
    now = listed(api, user, slot=slot, current_view_only=True)
    if single:
        assert len(now) <= 1, [m.content for m in now]
    said = [(m.value, m.polarity) for m in now]
    assert len(said) == len(set(said)), said  # a restatement never makes a second fact
    assert len({value for value, _ in said}) == len(said), said  # never a claim and its denial
    assert all(m.temporal_state == memory_pb2.TEMPORAL_STATE_CURRENT for m in now)
    everything = listed(api, user, slot=slot)
    ids = {m.id for m in everything}
    assert all(m.superseded_by in ids for m in everything if m.superseded_by)


State = dict[str, tuple[bool, str]]


def check_history(api: Any, seen: dict[str, int], before: State, after: State) -> None:
    for memory_id in before.keys() | after.keys():
        kind = change(before.get(memory_id), after.get(memory_id))
        if kind is None:
            continue
        events = history(api, memory_id)
        fresh = {e.type for e in events[seen.get(memory_id, 0) :]}
        assert fresh & EXPLAINED_BY[kind], (memory_id, kind, events)
        seen[memory_id] = len(events)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(slot=st.sampled_from(sorted(SLOT_KINDS)), steps=st.lists(STEPS, min_size=1, max_size=8))
def test_any_sequence_of_writes_and_deletes_keeps_the_slot_true(api, slot, steps):
    user = f"prop-{uuid.uuid4()}"
    seen: dict[str, int] = {}
    before: State = {}
    for action, value, pick in steps:
        if action == "delete":
            stored = listed(api, user, slot=slot)
            if stored:
                delete(api, stored[pick % len(stored)].id)
        else:
            write(api, user, step_fact(slot, action, value))
        after = {m.id: state_of(m) for m in listed(api, user, slot=slot)}
        check_invariants(api, user, slot, SLOT_KINDS[slot])
        check_history(api, seen, before, after)
        before = after
