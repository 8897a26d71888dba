"""A controller killed in the chroot phase of the conversion (issue 17's worst case).

The kill (tests/support/callback_plugins/pv2hvm_crash.py) comes in grub_install's package step:
either SIGKILL of ansible-playbook and every process under it as the package lists are about to be
refreshed (the controller machine dies), or SIGKILL of its process group only while the package
install runs in the image (the task in flight runs on in its own session, as on a remote worker). Either way the
destination stays mounted with the chroot's mounts inside, the worker's resolv.conf and a policy-rc.d
that exits 101 are in the image, its volume is attached. Then cleanup.yml, given the worker, leaves
nothing, or the same command again converges on one completed AMI whose root has no conversion
leftovers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.lab.demo import write_inventory
from tests.lab.endpoint import LAB_REGION
from tests.lab.system import mounted, sha256_file
from tests.lab.world import register_lab_worker
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import run_playbook

pytestmark = pytest.mark.root

CALLBACKS = REPO_ROOT / "tests" / "support" / "callback_plugins"


class Crash(NamedTuple):
    mode: str  # "tree" or "group" (tests/support/callback_plugins/pv2hvm_crash.py)
    task: str  # the task it dies in
    in_chroot: bool  # dies while that task runs in the image's chroot, not as it starts
    in_package_step: bool  # grub_install's package step: the image then holds its policy-rc.d


TREE_BEFORE_REFRESH = Crash("tree", "Refresh the image's package lists", False, True)
GROUP_DURING_INSTALL = Crash("group", "Install the GRUB package in the image", True, True)
TREE_DURING_INITRAMFS = Crash("tree", "Build the initramfs of each kernel with the image's own tool", True, False)


def mounts_under(path: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
            if line.split()[1] == str(path) or line.split()[1].startswith(f"{path}/")]


def crashed_migration(migration_lab: Any, name: str, crash: Crash = TREE_BEFORE_REFRESH) -> tuple[str, str, Path]:
    """A migration killed in the chroot phase: (source, worker, its mount point)."""
    mode, task, in_chroot = crash.mode, crash.task, crash.in_chroot
    source = migration_lab.pv_instance(name)
    worker = register_lab_worker(migration_lab.lab)
    log = migration_lab.work / "crash.log"
    env = {"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "pv2hvm_crash",
           "PV2HVM_CRASH_AT": task, "PV2HVM_CRASH_MODE": mode, "PV2HVM_CRASH_LOG": str(log)}
    if in_chroot:
        env["PV2HVM_CRASH_IN_CHROOT"] = str(migration_lab.work / "mnt")
    # In a session of its own: a process-group kill must not reach pytest.
    run = migration_lab.migrate([source], capture="crashed.jsonl", env=env, own_session=True, pv2hvm_worker_instance_id=worker)
    assert run.rc == -9, f"the controller was to be killed in {task!r}: {run.explain()}"
    killed = log.read_text(encoding="utf-8")
    assert killed.startswith(f"killed at {task!r} ({mode}) " + ("while " if in_chroot else "as it started")), killed
    mount_point = migration_lab.work / "mnt" / f"pv2hvm-{source}"
    left = mounts_under(mount_point)
    # What the crash left: the destination and the chroot's mounts in it, the conversion's files in it.
    assert str(mount_point) in left and len(left) > 1, left
    policy = (mount_point / "usr/sbin/policy-rc.d").is_file()
    assert policy == crash.in_package_step, f"policy-rc.d in the image after the crash: {policy}; {killed}"
    return source, worker, mount_point


def source_state(migration_lab: Any, source: str) -> tuple[str, str, str]:
    described = migration_lab.ec2.describe_instances(InstanceIds=[source])["Reservations"][0]["Instances"][0]
    root_volume = described["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    return (described["State"]["Name"], sha256_file(migration_lab.lab.ebs.volume_file(root_volume)),
            sha256_file(migration_lab.lab.ebs.snapshot_file(migration_lab.pv.root_snapshot)))


def test_cleanup_given_the_worker_removes_everything_a_chroot_phase_crash_left(migration_lab: Any) -> None:
    source, _worker, mount_point = crashed_migration(migration_lab, "crash-cleanup")
    before = source_state(migration_lab, source)
    migration = f"pv2hvm-{source}"
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


@pytest.mark.parametrize("crash", [TREE_BEFORE_REFRESH, GROUP_DURING_INSTALL, TREE_DURING_INITRAMFS],
                         ids=["tree-killed", "group-killed-mid-task", "tree-killed-in-initramfs-build"])
def test_rerun_after_a_chroot_phase_crash_converges_on_one_completed_ami_without_leftovers(
        migration_lab: Any, crash: Crash) -> None:
    source, worker, mount_point = crashed_migration(migration_lab, "crash-rerun", crash)
    before = source_state(migration_lab, source)
    migration = f"pv2hvm-{source}"

    rerun = migration_lab.migrate([source], capture="rerun.jsonl", pv2hvm_worker_instance_id=worker)
    assert rerun.rc == 0, rerun.explain()
    # The clone was the crashed run's: its initramfs configuration was already rewritten, so only a
    # rebuild regardless of changes makes sure the image has the rebuilt initramfs.
    built = rerun.task_results("cloudops.pv2hvm.boot_config : Build the initramfs of each kernel with the image's own tool")
    assert built and not any(result.get("skipped") for result in built), "the re-run rebuilt the initramfs"
    report = migration_lab.report(source)
    assert report["status"] == "succeeded" and report["completed"].startswith("boot-tested on ")
    assert mounts_under(mount_point) == [] and migration_lab.lab.ebs.loops == {}
    assert sorted(migration_lab.tagged(migration)) == sorted([report["image"]["image_id"], *report["image"]["snapshot_ids"]])
    assert not Path(f"/var/tmp/{migration}.progress.json").exists()
    assert source_state(migration_lab, source) == before

    # The AMI's root: none of what the conversion puts into the image for a while.
    root_disk = migration_lab.root_disk_of_image(report["image"]["image_id"])
    device = subprocess.run(["losetup", "--find", "--show", "--read-only", "--offset", str(1 << 20), str(root_disk)],
                            capture_output=True, text=True, check=True).stdout.strip()
    try:
        with mounted(device, read_only=True, options="noload") as root:
            for leftover in ("usr/sbin/policy-rc.d", "etc/resolv.conf.pv2hvm-saved", "etc/resolv.conf.pv2hvm-absent"):
                assert not (root / leftover).exists(), f"the AMI's root still has {leftover}"
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)
