"""An old-style Debian PV guest: GRUB 0.97 (grub-legacy) is its only boot loader, ifupdown brings up
eth0 (Xen netfront's name) and udev's persistent-net rules bind eth0 to the PV instance's MAC.

convert_image.yml must take the GRUB it finds installed (0.97, whose grub-install is not grub2's) and
go the legacy way - grub.conf and the grub shell's `setup` run against the loop device - and keep
eth0: the kernel gets net.ifnames=0 biosdevname=0, the MAC-bound rule goes. Then the image boots on
IDE and NVMe with a NIC - which is not done in make test yet: see the note at the end of the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.guest.conftest import convert_image
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.system import loop_device, mounted

pytestmark = [pytest.mark.root]

OLD_GUEST = PVImageSpec(size_mib=1024, root_device="/dev/sda1", data_device="", kernel_args="elevator=noop",
                        boot_loader="grub-legacy", network="ifupdown-eth0", persistent_net_rule=True)


def test_grub_legacy_guest_converts_the_legacy_way_and_keeps_eth0(tmp_path: Path) -> None:
    image = build_pv_image(OLD_GUEST)
    dest = tmp_path / "hvm.img"
    output = convert_image(image.disk, dest, tmp_path / "convert_image.log")
    assert "GRUB (legacy, image) in the MBR" in output, output[-3000:]

    with loop_device(dest, partitions=True) as device, mounted(f"{device}p1", read_only=True) as root:
        grub = root / "boot/grub"
        assert (grub / "menu.lst").is_symlink() and str((grub / "menu.lst").readlink()) == "grub.conf"
        assert (grub / "stage2").is_file() and not (grub / "i386-pc").exists() and not (grub / "grub.cfg").exists(), \
            "grub2 was installed into a GRUB 0.97 guest"
        kernel_lines = re.findall(r"(?m)^\s*kernel\s+(.*)$", (grub / "grub.conf").read_text(encoding="utf-8"))
        assert kernel_lines and all("root=UUID=" in line and "net.ifnames=0" in line.split()
                                    and "biosdevname=0" in line.split() for line in kernel_lines), kernel_lines
        rules = (root / "etc/udev/rules.d/70-persistent-net.rules").read_text(encoding="utf-8")
        assert "ATTR{address}" not in rules.replace("# ", ""), rules
        assert list((root / "etc/udev/rules.d").glob("70-persistent-net.rules.*~")), "no backup of the rules"

    # Not booted: this image's GRUB 0.97 booted once here (IDE and NVMe, eth0 up) and then hung silently
    # after SeaBIOS handed it the MBR in two later runs; until that is understood the boot proves nothing
    # (docs/known-issues.md).
