"""A guest the roles cannot convert is refused with its release named, and nothing of the migration stays:
no HVM snapshot or AMI, no tagged resource, the source unchanged. Read through the running source's own host
(pv2hvm_source_hosts) it is refused before anything exists; otherwise in the first guest step, on the worker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.lab.system import loop_device, mounted, sha256_file
from tests.lab.world import launch, register_lab_worker, register_pv_image, seed_pv_root

pytestmark = pytest.mark.root

RELEASE = "CentOS release 5.11 (Final)"
# Release files of guests the roles cannot convert, and words their refusal must name.
GUESTS = {
    "centos5": ({"etc/redhat-release": RELEASE + "\n"}, [RELEASE, "mkinitrd"]),
    "unrecognised": ({"etc/os-release": 'NAME="Gentoo"\nID=gentoo\nPRETTY_NAME="Gentoo Linux"\n'},
                     ["Gentoo Linux", "not a guest the roles know"]),
}


def guest_disk(pv_disk: Path, work: Path, release_files: dict[str, str], name: str = "centos5") -> Path:
    """The lab's PV root with only the given release files: its own os-release and debian_version removed."""
    disk = work / f"{name}.img"
    subprocess.run(["cp", "--sparse=always", str(pv_disk), str(disk)], check=True)
    with loop_device(disk) as device, mounted(device) as root:
        for path in ("etc/os-release", "etc/debian_version"):
            (root / path).unlink()
        for path, text in release_files.items():
            (root / path).write_text(text, encoding="utf-8")
    return disk


def centos5_disk(pv_disk: Path, work: Path) -> Path:
    return guest_disk(pv_disk, work, GUESTS["centos5"][0])


def test_rhel5_like_guest_is_refused_and_nothing_is_registered(migration_lab: Any, pv_disk: Path) -> None:
    ec2 = migration_lab.ec2
    disk = centos5_disk(pv_disk, migration_lab.work)
    image = register_pv_image(ec2, name="centos5-db", root_snapshot=seed_pv_root(migration_lab.lab, disk), data_volume=False)
    source = launch(ec2, image.image_id, name="centos5-db")
    worker = register_lab_worker(migration_lab.lab)
    images_before = {found["ImageId"] for found in ec2.describe_images(Owners=["self"])["Images"]}
    snapshot = sha256_file(migration_lab.lab.ebs.snapshot_file(image.root_snapshot))

    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=worker)

    assert run.rc != 0
    report = migration_lab.report(source)
    assert report["status"] == "failed"
    assert report["failure"]["step"] == "Refuse a guest the roles cannot convert, naming its release", report["failure"]
    assert RELEASE in run.stdout and "mkinitrd" in run.stdout
    assert sorted(report["resources"]["deleted"]) == sorted(report["resources"]["created"])
    assert migration_lab.tagged(f"pv2hvm-{source}") == []
    assert {found["ImageId"] for found in ec2.describe_images(Owners=["self"])["Images"]} == images_before
    assert migration_lab.lab.ebs.loops == {}, "every staged volume was detached from the worker"
    assert sha256_file(migration_lab.lab.ebs.snapshot_file(image.root_snapshot)) == snapshot


@pytest.mark.parametrize("guest", list(GUESTS))
def test_running_source_is_refused_through_its_own_host_before_any_snapshot(migration_lab: Any, pv_disk: Path, guest: str) -> None:
    """The source's own host is its root filesystem reached with the chroot connection: the same shell-only
    read (raw) that an SSH connection to an old guest without a usable Python gets."""
    ec2 = migration_lab.ec2
    files, words = GUESTS[guest]
    disk = guest_disk(pv_disk, migration_lab.work, files, guest)
    image = register_pv_image(ec2, name="old-app", root_snapshot=seed_pv_root(migration_lab.lab, disk), data_volume=False)
    source = launch(ec2, image.image_id, name="old-app")
    worker = register_lab_worker(migration_lab.lab)
    snapshots_before = {found["SnapshotId"] for found in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}

    with loop_device(disk, read_only=True) as device, mounted(device, read_only=True) as running_root:
        own_host = {"old-app": {"ansible_connection": "community.general.chroot", "ansible_host": str(running_root)}}
        run = migration_lab.migrate([source], hosts=own_host, pv2hvm_worker_instance_id=worker,
                                    pv2hvm_source_hosts={source: "old-app"})

    assert run.rc != 0
    report = migration_lab.report(source)
    assert report["status"] == "failed"
    assert report["failure"]["step"] == "Refuse a guest the roles cannot convert, before the source is snapshotted", report["failure"]
    assert all(word in run.stdout for word in words) and "read through old-app" in run.stdout, run.explain()
    sent = {call[0] for call in migration_lab.requests().calls}
    assert not sent & {"CreateSnapshot", "CreateVolume", "AttachVolume", "RegisterImage", "RunInstances"}, sorted(sent)
    assert report["resources"]["created"] == []
    assert {found["SnapshotId"] for found in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]} == snapshots_before
    assert migration_lab.tagged(f"pv2hvm-{source}") == []
    assert migration_lab.lab.ebs.loops == {}
