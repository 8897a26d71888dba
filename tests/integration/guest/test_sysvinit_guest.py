"""A sysvinit Debian PV guest: sysvinit-core instead of systemd (no systemd at all), its console getty
on the Xen console in /etc/inittab (`getty --noclear 38400 hvc0`, the tty1 line moved there, the other
virtual terminals off), as PV guests set up before systemd, or kept off it, have it.

convert_image.yml must do the console work without systemd: the inittab getty moves to ttyS0 at the
serial speed (the speed-first argument order kept: `getty --noclear 115200 ttyS0`), fstab names the root
by UUID. Then the image boots on NVMe under sysvinit (IDE adds nothing to it: the boot loader, initramfs tool
and kernel are the lab machine's, IDE-booted in test_convert_image.py; tests/boot_matrix.py): PID 1 is `init`, a getty runs on ttyS0 and
none on hvc0, the newest kernel boots with the serial console and without the PV one. The unconverted
image does not boot (negative control), and the boot check hooked its probe into its inittab.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.guest.conftest import boots_as_hvm, convert_image
from tests.lab.bootcheck import boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.system import loop_device, mounted, run

pytestmark = [pytest.mark.root, pytest.mark.qemu]

SYSVINIT_GUEST = PVImageSpec(size_mib=1024, data_device="", init="sysvinit")


def _active_getty_lines(inittab: str) -> list[str]:
    return [line for line in inittab.splitlines() if not line.lstrip().startswith("#") and "getty" in line]


def test_sysvinit_guest_gets_a_serial_getty_and_boots_without_systemd(tmp_path: Path) -> None:
    image = build_pv_image(SYSVINIT_GUEST)

    unconverted = boot(image.disk, "ide", log_dir=tmp_path / "boot-unconverted")
    assert not unconverted.booted, f"the PV image booted as HVM?\n{unconverted.tail()}"
    assert unconverted.init == "sysvinit", "the probe must have been hooked into the PV root's inittab"
    assert unconverted.reason.startswith("no bootable device: "), unconverted.reason

    dest = tmp_path / "hvm.img"
    convert_image(image.disk, dest, tmp_path / "convert_image.log")

    with loop_device(dest, partitions=True) as device, mounted(f"{device}p1", read_only=True) as root:
        fs_uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", f"{device}p1"]).strip()
        assert not any((root / path).exists() for path in ("lib/systemd/systemd", "usr/lib/systemd/systemd")), \
            "the sysvinit guest has systemd"
        gettys = _active_getty_lines((root / "etc/inittab").read_text(encoding="utf-8"))
        assert [line for line in gettys if re.search(r"\bgetty\s+--noclear\s+115200\s+ttyS0$", line)], gettys
        assert not [line for line in gettys if re.search(r"\b(hvc|xvc)0\b", line)], gettys
        assert list((root / "etc").glob("inittab.*~")), "no backup of inittab"
        fstab_root = [line.split()[0] for line in (root / "etc/fstab").read_text(encoding="utf-8").splitlines()
                      if line.split()[1:2] == ["/"] and not line.startswith("#")]
        assert fstab_root == [f"UUID={fs_uuid}"], fstab_root

    for result in boots_as_hvm(dest, image, fs_uuid, tmp_path, buses=("nvme",)).values():
        assert result.init == "sysvinit"
        probe = result.probe
        assert probe["init"] == "init", f"PID 1 is {probe['init']!r}, not sysvinit's init"
        assert [getty for getty in probe["getty"] if getty.split()[-1] == "ttyS0"], probe["getty"]
        assert not [getty for getty in probe["getty"] if "hvc0" in getty.split()], probe["getty"]
