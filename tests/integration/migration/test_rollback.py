"""A failure on the worker rolls the migration back: nothing tagged stays, the source is unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.system import sha256_file
from tests.lab.world import register_lab_worker, register_lab_worker_image

pytestmark = pytest.mark.root


def test_failure_in_the_worker_phase_leaves_nothing_behind(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("legacy-db")
    worker = register_lab_worker(migration_lab.lab)
    ec2 = migration_lab.ec2
    root_volume = ec2.describe_instances(InstanceIds=[source])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    before = sha256_file(migration_lab.lab.ebs.volume_file(root_volume))
    source_snapshot = sha256_file(migration_lab.lab.ebs.snapshot_file(migration_lab.pv.root_snapshot))

    # The destination cannot be mounted: its mount point would be below a regular file.
    blocker = migration_lab.work / "not-a-directory"
    blocker.write_text("x", encoding="utf-8")
    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=worker, pv2hvm_worker_mount_base=str(blocker / "mnt"))

    assert run.rc != 0
    report = migration_lab.report(source)
    assert report["status"] == "failed"
    assert report["failure"]["step"] == "Mount the destination's root filesystem", report["failure"]
    assert sorted(report["resources"]["deleted"]) == sorted(report["resources"]["created"])
    assert migration_lab.tagged(f"pv2hvm-{source}") == []
    assert migration_lab.lab.ebs.loops == {}, "every staged volume was detached from the worker"
    assert "was not changed" in run.stdout and "Mount the destination" in run.stdout
    # The source: still running, same root volume, same bytes; its AMI's snapshot too.
    described = ec2.describe_instances(InstanceIds=[source])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"
    assert described["BlockDeviceMappings"][0]["Ebs"]["VolumeId"] == root_volume
    assert sha256_file(migration_lab.lab.ebs.volume_file(root_volume)) == before
    assert sha256_file(migration_lab.lab.ebs.snapshot_file(migration_lab.pv.root_snapshot)) == source_snapshot


def test_a_worker_launched_for_a_run_whose_every_migration_failed_is_terminated(migration_lab: Any) -> None:
    # Ansible skips the remaining plays once every host of a play failed: the failure must wait for the
    # last play, which terminates the launched worker.
    source = migration_lab.pv_instance("legacy-cache")
    launch = {"image_id": register_lab_worker_image(migration_lab.lab), "instance_type": "t3.small"}
    blocker = migration_lab.work / "not-a-directory"
    blocker.write_text("x", encoding="utf-8")
    run = migration_lab.migrate([source], pv2hvm_worker_launch=launch, pv2hvm_worker_mount_base=str(blocker / "mnt"))

    assert run.rc != 0
    assert migration_lab.report(source)["failure"]["step"] == "Mount the destination's root filesystem"
    final = run.task_results("cloudops.pv2hvm.pv2hvm : Fail for the migrations that failed")
    assert final and "Mount the destination" in final[0]["msg"] and "was not changed" in final[0]["msg"], run.explain()
    workers = migration_lab.ec2.describe_instances(Filters=[{"Name": "tag:pv2hvm:purpose", "Values": ["worker"]}])
    states = [i["State"]["Name"] for r in workers["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"], states
    assert migration_lab.tagged(f"pv2hvm-{source}") == []
