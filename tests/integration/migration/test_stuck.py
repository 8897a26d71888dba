"""A resource that never becomes ready: the step's wait times out, the migration rolls back, nothing stays.

The lab endpoint leaves the source snapshot "pending", or the working copy's attachment "attaching",
for ever (tests/lab/faults.py); pv2hvm_aws_wait_timeout makes the wait short. These runs fail before
any disk work, so they are cheap."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.system import sha256_file
from tests.lab.world import register_lab_worker

pytestmark = pytest.mark.root

CASES = [
    ("CreateSnapshot", "Snapshot the source (the only thing done to it)", "snapshot completed"),
    ("AttachVolume", "Stage the working copy of the root on the worker", "volume attached"),
]


@pytest.mark.parametrize(("operation", "step", "waited_for"), CASES, ids=[case[0] for case in CASES])
def test_a_resource_that_never_becomes_ready_times_out_and_leaves_nothing(migration_lab: Any, operation: str, step: str,
                                                                          waited_for: str) -> None:
    source = migration_lab.pv_instance(f"stuck-{operation.lower()}")
    worker = register_lab_worker(migration_lab.lab)
    ec2 = migration_lab.ec2
    root_volume = ec2.describe_instances(InstanceIds=[source])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    before = sha256_file(migration_lab.lab.ebs.volume_file(root_volume))

    migration_lab.lab.faults.stick(operation)
    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=worker, pv2hvm_aws_wait_timeout=20)
    assert run.rc != 0

    report = migration_lab.report(source)
    assert report["status"] == "failed" and report["failure"]["step"] == step, report["failure"]
    assert f"gave up waiting for {waited_for} after 20 s" in report["failure"]["message"], report["failure"]
    assert step in run.stdout and "was not changed" in run.stdout
    assert migration_lab.tagged(f"pv2hvm-{source}") == [], "the rollback removed the stuck resource too"
    assert migration_lab.lab.ebs.loops == {}, "nothing stays attached to the worker"
    assert sha256_file(migration_lab.lab.ebs.volume_file(root_volume)) == before
