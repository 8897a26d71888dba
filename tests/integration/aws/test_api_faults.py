"""EC2 faults at every AWS step of a migration, injected at the lab endpoint (tests/lab/fault_matrix.py).

A throttled call is retried with backoff and the step succeeds, making exactly one resource. A quota,
capacity or rate error fails the step at once with what to do about it, leaves nothing that step
made, and running the step again once the cause is gone finishes it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab import fault_matrix
from tests.lab.fault_matrix import REFUSED, THROTTLED, World


@pytest.fixture
def world(lab: Any) -> Any:
    made = World.make(lab)
    yield made
    lab.faults.clear()
    made.close()


@pytest.mark.parametrize(("step", "operation", "code", "times"), THROTTLED, ids=[f"{case[0]}-{case[1]}-{case[2]}" for case in THROTTLED])
def test_a_throttled_step_retries_and_succeeds_once(world: World, step: str, operation: str, code: str, times: int) -> None:
    outcome = fault_matrix.run_throttled(world, step, operation, code, times)
    assert outcome.outcome == "retried and succeeded", outcome
    assert outcome.answered == times and outcome.calls > times, f"{operation} was retried after each {code}"
    assert outcome.leaked == []


@pytest.mark.parametrize(("step", "operation", "code", "advice"), REFUSED, ids=[f"{case[0]}-{case[1]}-{case[2]}" for case in REFUSED])
def test_a_refused_step_fails_with_what_to_do_and_leaves_nothing(world: World, step: str, operation: str, code: str, advice: str) -> None:
    outcome = fault_matrix.run_refused(world, step, operation, code, advice)
    assert outcome.outcome == "failed as it should", outcome
    assert code in outcome.message and advice in outcome.message
    assert outcome.calls == 1, f"{code} is not retried"
    assert outcome.leaked == [], f"the failed {step} step left {outcome.leaked}"
