"""Negative control: the unconverted PV image must not boot as HVM, on IDE nor on NVMe."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.system import sha256_file
from tests.lab import bootcheck
from tests.lab.images import PVImage

pytestmark = [pytest.mark.root, pytest.mark.qemu]


@pytest.mark.parametrize("bus", bootcheck.BUSES)
def test_unconverted_pv_image_does_not_boot(pv_image: PVImage, tmp_path: Path, bus: str) -> None:
    before = sha256_file(pv_image.disk)
    result = bootcheck.boot(pv_image.disk, bus, log_dir=tmp_path)
    assert not result.booted, f"the PV image booted as HVM?\n{result.tail()}"
    assert result.probe is None
    assert result.init == "systemd", "the probe must have been put into the PV root (whole-disk filesystem)"
    assert result.reason.startswith("no bootable device: "), result.reason
    assert sha256_file(pv_image.disk) == before, "the boot check wrote to the disk (it must boot an overlay)"
