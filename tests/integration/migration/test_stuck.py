"""A resource that never becomes ready: the step's wait times out, the migration rolls back, nothing stays.

The lab endpoint leaves the source snapshot "pending", or the working copy's attachment "attaching",
for ever (tests/lab/faults.py); pv2hvm_aws_wait_timeout makes the wait short. These runs fail before
any disk work, so they are cheap."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.migration_faults import STUCK, STUCK_WAIT_SECONDS, stuck
from tests.lab.world import register_lab_worker

pytestmark = pytest.mark.root


@pytest.mark.parametrize(("operation", "step", "waited_for"), STUCK, ids=[case[0] for case in STUCK])
def test_a_resource_that_never_becomes_ready_times_out_and_leaves_nothing(migration_lab: Any, operation: str, step: str,
                                                                          waited_for: str) -> None:
    source = migration_lab.pv_instance(f"stuck-{operation.lower()}")
    case = stuck(migration_lab, source, register_lab_worker(migration_lab.lab), operation, step)
    assert case.run.rc != 0
    assert case.report["status"] == "failed" and case.report["failure"]["step"] == step, case.report["failure"]
    assert f"gave up waiting for {waited_for} after {STUCK_WAIT_SECONDS} s" in case.message, case.report["failure"]
    assert step in case.run.stdout and "was not changed" in case.run.stdout
    assert case.leaked == [], "the rollback removed the stuck resource too, nothing stays attached, the source is unchanged"
