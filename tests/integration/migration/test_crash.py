"""A controller killed with SIGKILL during a migration (issue 17), then cleaned up or run again.

The worst case is the chroot phase: the destination stays mounted with the chroot's mounts inside, the
worker's resolv.conf and a policy-rc.d that exits 101 are in the image, its volume is attached;
cleanup.yml, given the worker, must leave nothing. And one migration is killed at every step in turn
(tests/support/crash.py: as a task starts, while a task runs in the chroot, or once AWS has made a
resource and before the controller hears of it; the whole process tree or its process group only),
each time run again with the same command, until a run converges on one completed AMI with nothing
else left and no conversion leftovers in its root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.demo import write_inventory
from tests.lab.endpoint import LAB_REGION
from tests.lab.migration_faults import (CHAIN_PARTS, CONVERSION_LEFTOVERS, EVERY_STEP, ami_root, converge, crash, kill_at_every_step, mounts_under,
                                        source_state)
from tests.lab.world import register_lab_worker
from tests.support.crash import Crash
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import run_playbook

pytestmark = pytest.mark.root

TREE_BEFORE_REFRESH = Crash("grub_install", "tree", task="Refresh the image's package lists")


def test_cleanup_given_the_worker_removes_everything_a_chroot_phase_crash_left(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("crash-cleanup")
    killed = crash(migration_lab, source, register_lab_worker(migration_lab.lab), TREE_BEFORE_REFRESH)
    assert killed.died_as_armed, killed
    migration = f"pv2hvm-{source}"
    mount_point = migration_lab.work / "mnt" / migration
    # What the crash left: the destination and the chroot's mounts in it, the conversion's files in it.
    assert str(mount_point) in mounts_under(mount_point) and killed.chroot_mounts_left > 1, killed
    assert (mount_point / "usr/sbin/policy-rc.d").is_file()
    before = source_state(migration_lab, source)
    cleanup_vars = {"pv2hvm_aws_endpoint_url": migration_lab.lab.url, "pv2hvm_aws_region": LAB_REGION,
                    "pv2hvm_cleanup_migration_id": migration, "pv2hvm_cleanup_worker_host": "localhost",
                    "pv2hvm_worker_mount_base": str(migration_lab.work / "mnt")}
    inventory = write_inventory(migration_lab.work)
    dry = run_playbook(REPO_ROOT / "playbooks" / "cleanup.yml", cleanup_vars, env=migration_lab.lab.env(), inventory=inventory)
    assert dry.rc == 0, dry.explain()
    assert str(mount_point) in dry.task_results("Show what the migration still has mounted on the worker")[0]["msg"]
    assert len(mounts_under(mount_point)) > 1, "a dry run changes nothing"

    done = run_playbook(REPO_ROOT / "playbooks" / "cleanup.yml", {**cleanup_vars, "pv2hvm_cleanup_confirm": True},
                        env=migration_lab.lab.env(), inventory=inventory)
    assert done.rc == 0, done.explain()
    assert mounts_under(mount_point) == []
    assert migration_lab.tagged(migration) == [], "every snapshot and volume of the migration is gone"
    assert migration_lab.lab.ebs.loops == {}, "every staged volume was detached from the worker"
    assert not Path(f"/var/tmp/{migration}.progress.json").exists()
    assert source_state(migration_lab, source) == before


def test_the_chain_parts_are_every_step_once_in_order() -> None:
    assert [crash_at for part in CHAIN_PARTS.values() for crash_at in part] == EVERY_STEP


@pytest.mark.parametrize("part", list(CHAIN_PARTS))
def test_a_migration_killed_at_every_step_in_turn_converges_on_one_completed_ami_without_leftovers(migration_lab: Any, part: str) -> None:
    steps = CHAIN_PARTS[part]
    source = migration_lab.pv_instance("crash-every-step")
    worker = register_lab_worker(migration_lab.lab)
    before = source_state(migration_lab, source)
    killed = {}
    for case in kill_at_every_step(migration_lab, source, worker, steps):
        assert case.died_as_armed, f"the controller was to be killed in {case.crash}: {case}"
        assert case.source_unchanged, f"the source changed in the run killed in {case.crash}"
        if case.crash.in_chroot:
            assert case.chroot_mounts_left > 1, f"killed in the chroot phase ({case.crash}), the chroot's mounts stay"
        killed[case.crash.step] = case
    assert list(killed) == [crash_at.step for crash_at in steps]
    if "inspect" in killed:
        assert killed["inspect"].left == [], "killed while inspecting, nothing was made"
        assert len(killed["snapshot"].left) == 1, "the snapshot AWS made before the controller died is tagged"
    if "destination snapshot" in killed:
        snapshots = [item for item in killed["destination snapshot"].left if item.startswith("snap-")]
        assert len(snapshots) == 2, f"the source's and the AMI's root snapshot AWS made before the controller died: {snapshots}"
    if "test instance" in killed:
        assert any(item.startswith("i-") for item in killed["test instance"].left), "the test instance outlived that run"

    done = converge(migration_lab, source, worker)
    assert done.run.rc == 0, done.run.explain()
    # Killed last while writing the report, the AMI was finished and the re-run finds it done; killed earlier, the
    # re-run finishes the migration itself.
    expected_status = "already-done" if "report" in killed else "succeeded"
    assert done.report["status"] == expected_status and done.report["completed"].startswith("boot-tested on "), done.report
    assert done.leaked == [], f"left besides the AMI: {done.leaked}; after each crash: {[(k, c.left) for k, c in killed.items()]}"
    migration = f"pv2hvm-{source}"
    images = migration_lab.ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:pv2hvm:migration", "Values": [migration]}])["Images"]
    assert len(images) == 1
    assert source_state(migration_lab, source) == before
    with ami_root(migration_lab, done.report["image"]["image_id"]) as root:
        assert not [path for path in CONVERSION_LEFTOVERS if (root / path).exists()]
        if "boot_config" in killed:
            # The build the crash cut short was done again: the clone a re-run reuses is rebuilt regardless.
            initramfs = sorted((root / "boot").glob("initrd.img-*"))
            assert initramfs and all(path.stat().st_mtime > killed["boot_config"].died_at for path in initramfs), initramfs
