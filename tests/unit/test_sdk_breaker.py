"""The SDK's circuit breaker on a fake clock: when memory is skipped, probed and used again."""

import threading

import pytest
from memoire import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def state(b: CircuitBreaker) -> BreakerState:
    return b.state


def breaker(clock: Clock, threshold: int = 3, cooldown: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=threshold, cooldown=cooldown, clock=clock)


def test_a_healthy_service_is_always_used(clock):
    b = breaker(clock)
    for _ in range(100):
        assert b.allow()
        b.record_success()
    assert b.state is BreakerState.CLOSED


def test_it_opens_after_the_threshold_of_failures_in_a_row(clock):
    b = breaker(clock, threshold=3)
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert state(b) is BreakerState.OPEN
    assert not b.allow()


def test_a_success_resets_the_count(clock):
    b = breaker(clock, threshold=3)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    assert b.failures == 2


def test_only_the_first_failure_of_an_outage_asks_for_a_warning(clock):
    b = breaker(clock, threshold=2, cooldown=1)
    assert b.record_failure() is True
    assert b.record_failure() is False
    clock.advance(1)
    assert b.allow()
    assert b.record_failure() is False  # the failed probe is the same outage
    assert b.record_success() is True  # recovered: worth saying
    assert b.record_success() is False
    assert b.record_failure() is True  # a new outage


def test_after_the_cooldown_one_probe_goes_through(clock):
    b = breaker(clock, threshold=1, cooldown=10)
    b.record_failure()
    clock.advance(9.9)
    assert not b.allow()
    clock.advance(0.1)
    assert b.allow()
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow()  # one probe at a time
    assert not b.allow()


def test_a_successful_probe_closes_the_circuit(clock):
    b = breaker(clock, threshold=1, cooldown=10)
    b.record_failure()
    clock.advance(10)
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert all(b.allow() for _ in range(5))


def test_a_failed_probe_opens_it_again_for_twice_as_long(clock):
    b = breaker(clock, threshold=1, cooldown=10)
    b.record_failure()
    clock.advance(10)
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.advance(19)
    assert not b.allow()
    clock.advance(1)
    assert b.allow()


def test_the_cooldown_grows_no_further_than_its_maximum(clock):
    b = CircuitBreaker(failure_threshold=1, cooldown=10, max_cooldown=25, clock=clock)
    b.record_failure()
    for _ in range(5):  # 20, then capped at 25
        clock.advance(25)
        assert b.allow()
        b.record_failure()
    clock.advance(24.9)
    assert not b.allow()
    clock.advance(0.1)
    assert b.allow()


def test_a_success_after_probing_resets_the_cooldown(clock):
    b = breaker(clock, threshold=1, cooldown=10)
    b.record_failure()
    clock.advance(10)
    b.allow()
    b.record_failure()  # cooldown now 20
    clock.advance(20)
    b.allow()
    b.record_success()
    b.record_failure()
    clock.advance(10)
    assert b.allow()  # back to 10


def test_a_probe_that_never_reports_does_not_block_memory_forever(clock):
    b = breaker(clock, threshold=1, cooldown=10)
    b.record_failure()
    clock.advance(10)
    assert b.allow()  # the probe is lost: its caller never reports
    clock.advance(9)
    assert not b.allow()
    clock.advance(1)
    assert b.allow()


def test_a_threshold_below_one_is_refused():
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)


def test_concurrent_callers_let_exactly_one_probe_through(clock):
    b = breaker(clock, threshold=1, cooldown=10)
    b.record_failure()
    clock.advance(10)
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def caller() -> None:
        start.wait()
        result = b.allow()
        with lock:
            allowed.append(result)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 1
