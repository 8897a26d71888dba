"""A lab PV instance whose 99 % full xfs root fills its 1 GiB volume migrates with no size set, and boots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.bootcheck import BUSES, boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.world import register_lab_worker

pytestmark = [pytest.mark.root, pytest.mark.qemu]


@pytest.fixture(scope="module")
def pv_disk() -> Path:
    """Overrides the migration lab's disk: xfs, exactly 1 GiB (its whole volume), 99 % used."""
    return build_pv_image(PVImageSpec(fstype="xfs", size_mib=1024, fill_percent=99, root_device="/dev/sda1")).disk


def test_full_root_that_fills_its_volume_migrates_and_boots(migration_lab: Any) -> None:
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
    for bus in BUSES:
        result = boot(migration_lab.root_disk_of_image(report["image"]["image_id"]), bus, log_dir=migration_lab.work / "boot")
        assert result.booted, f"{result.reason}\n{result.tail()}"
        assert result.probe["fstype"] == "xfs", result.probe
