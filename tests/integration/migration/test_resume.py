"""A half-finished migration resumes with what it left, creating no duplicates: staged by a run that died,
or registered by a run that died before its boot test (done means registered, boot-tested and reported)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.world import register_lab_worker
from tests.support.modules import run_module

pytestmark = pytest.mark.root


def test_reruns_after_crashes_reuse_what_was_left_and_finish_an_untested_ami(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("legacy-app")
    worker = register_lab_worker(migration_lab.lab)
    migration = f"pv2hvm-{source}"
    aws = dict(migration_lab.lab.module_params())

    def module(name: str, **args: Any) -> Any:
        result = run_module(name, dict(aws, **args), env=migration_lab.lab.env())
        assert not result.failed, result
        return result

    # What a run leaves when it dies right after staging: tagged snapshot, both volumes attached.
    snapshots = module("source_snapshots", instance_id=source, migration_id=migration)
    copy = module("volume", migration_id=migration, purpose="working-copy", snapshot_id=snapshots["root_snapshot_id"], instance_id=worker)
    # The size the plan gives (roles/pv2hvm/tasks/stage.yml): the next whole GiB holding the msdos table,
    # the root volume and the default 512 MiB of conversion headroom.
    planned_gib = (snapshots["root_volume_size"] * 1024 + 1 + 512 + 1023) // 1024
    destination = module("volume", migration_id=migration, purpose="destination", size=planned_gib, instance_id=worker)

    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=worker, pv2hvm_launch_test_instance=False)
    assert run.rc == 0, run.explain()
    requests = migration_lab.requests()
    assert requests.of("CreateVolume") == [] and requests.of("AttachVolume") == []
    assert [r["VolumeId"] for r in requests.of("CreateSnapshot")] == [destination["volume_id"]], "only the AMI's root snapshot is new"
    report = migration_lab.report(source)
    assert report["status"] == "succeeded"
    assert report["source"]["snapshots"][0]["snapshot_id"] == snapshots["root_snapshot_id"]
    assert {copy["volume_id"], destination["volume_id"]} <= set(report["resources"]["deleted"])
    # What the crashed run made is reported as taken over, not as made by this run.
    assert sorted(report["resources"]["reused"]) == sorted([snapshots["root_snapshot_id"], copy["volume_id"], destination["volume_id"]])
    assert not {snapshots["root_snapshot_id"], copy["volume_id"], destination["volume_id"]} & set(report["resources"]["created"])
    assert sorted(migration_lab.tagged(migration)) == sorted([report["image"]["image_id"], *report["image"]["snapshot_ids"]])
    image_id = report["image"]["image_id"]
    assert report["completed"].startswith("not boot-tested pv2hvm_launch_test_instance=false "), report["completed"]

    # What a run leaves when it dies after RegisterImage, before its boot test: the AMI, not completed.
    migration_lab.ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "pv2hvm:completed"}])
    resumed = migration_lab.migrate([source], capture="resumed.jsonl", pv2hvm_worker_instance_id=worker)
    assert resumed.rc == 0, resumed.explain()
    requests = migration_lab.requests("resumed.jsonl")
    for operation in ("CreateSnapshot", "CreateVolume", "AttachVolume", "RegisterImage"):
        assert requests.of(operation) == [], f"a registered migration must not {operation} again"
    launched = requests.of("RunInstances")
    assert [r["ImageId"] for r in launched] == [image_id], "the re-run boot-tests the AMI it found"
    # The lab image has NVMe and ENA: the readiness kept in the AMI's tag picks a Nitro type again.
    assert launched[0]["InstanceType"] == "t3.micro"
    report = migration_lab.report(source)
    assert report["status"] == "succeeded" and report["resumed_image_id"] == image_id
    tags = {t["Key"]: t["Value"] for t in migration_lab.ec2.describe_images(ImageIds=[image_id])["Images"][0]["Tags"]}
    assert tags["pv2hvm:completed"].startswith(f"boot-tested on {report['test_instance']['instance_id']} t3.micro ")
    assert report["completed"] == tags["pv2hvm:completed"]
    assert sorted(migration_lab.tagged(migration)) == sorted([image_id, *report["image"]["snapshot_ids"]]), "the test instance is gone"

    done = migration_lab.migrate([source], capture="done.jsonl", pv2hvm_worker_instance_id=worker)
    assert done.rc == 0, done.explain()
    assert migration_lab.requests("done.jsonl").of("RunInstances") == [], "a completed migration is not tested again"
    assert migration_lab.report(source)["status"] == "already-done"
