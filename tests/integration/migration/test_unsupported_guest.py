"""A guest the roles cannot convert fails the migration in its first guest step, with its release named,
and nothing of the migration stays: no HVM snapshot or AMI, no tagged resource, the source unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.lab.system import loop_device, mounted, sha256_file
from tests.lab.world import launch, register_lab_worker, register_pv_image, seed_pv_root

pytestmark = pytest.mark.root

RELEASE = "CentOS release 5.11 (Final)"


def centos5_disk(pv_disk: Path, work: Path) -> Path:
    """The lab's PV root with only a RHEL-5-style release file: os-release and debian_version removed."""
    disk = work / "centos5.img"
    subprocess.run(["cp", "--sparse=always", str(pv_disk), str(disk)], check=True)
    with loop_device(disk) as device, mounted(device) as root:
        for name in ("etc/os-release", "etc/debian_version"):
            (root / name).unlink()
        (root / "etc/redhat-release").write_text(RELEASE + "\n", encoding="utf-8")
    return disk


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
