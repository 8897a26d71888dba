"""A half-finished migration (staged by a run that died) resumes with what it left, creating no duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.world import register_lab_worker
from tests.support.modules import run_module

pytestmark = pytest.mark.root


def test_rerun_after_a_crash_reuses_the_staged_snapshots_and_volumes(migration_lab: Any) -> None:
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
    assert sorted(migration_lab.tagged(migration)) == sorted([report["image"]["image_id"], *report["image"]["snapshot_ids"]])
