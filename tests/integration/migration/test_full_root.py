"""Lab PV instances whose nearly full root fills its 1 GiB volume (xfs on the whole disk, ext4 in a partition)
migrate with no size set, and boot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.bootcheck import boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.world import register_lab_worker

pytestmark = [pytest.mark.root, pytest.mark.qemu]


FULL_ROOTS = {
    "xfs-99": PVImageSpec(fstype="xfs", size_mib=1024, fill_percent=99, root_device="/dev/sda1"),
    "ext4-95-partitioned": PVImageSpec(fstype="ext4", size_mib=1024, fill_percent=95, root_device="/dev/sda1",
                                       partitioned=True),
}


@pytest.fixture(scope="module", params=FULL_ROOTS.values(), ids=FULL_ROOTS.keys())
def full_root(request: pytest.FixtureRequest) -> PVImageSpec:
    return request.param


@pytest.fixture(scope="module")
def pv_disk(full_root: PVImageSpec) -> Path:
    """Overrides the migration lab's disk: exactly 1 GiB (its whole volume), nearly full; the whole disk, or
    one partition filling it."""
    return build_pv_image(full_root).disk


def test_full_root_that_fills_its_volume_migrates_and_boots(migration_lab: Any, full_root: PVImageSpec) -> None:
    source = migration_lab.pv_instance("legacy-full")
    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=register_lab_worker(migration_lab.lab))
    assert run.rc == 0, run.explain()
    report = migration_lab.report(source)
    assert report["status"] == "succeeded"
    destination = report["destination"]
    assert destination["size_gib"] == 2, destination
    assert "next whole GiB" in destination["reason"] and "1 GiB root" in destination["reason"], destination
    space = destination["space"]
    assert space["free_bytes"] >= space["headroom_bytes"] > 0, space
    # NVMe: issue 14 asked each full root to boot through the migration too; the IDE boot of the same boot loader,
    # initramfs tool and kernel is test_convert_image.py's and the demo's (tests/boot_matrix.py).
    for bus in ("nvme",):
        result = boot(migration_lab.root_disk_of_image(report["image"]["image_id"]), bus, log_dir=migration_lab.work / "boot")
        assert result.booted, f"{result.reason}\n{result.tail()}"
        assert result.probe["fstype"] == full_root.fstype, result.probe
        assert result.probe["root"].startswith("/dev/nvme0n1" if bus == "nvme" else "/dev/sda"), result.probe
