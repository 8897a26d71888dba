"""An old-style Debian PV guest: GRUB 0.97 (grub-legacy) is its only boot loader, ifupdown brings up
eth0 (Xen netfront's name) and udev's persistent-net rules bind eth0 to the PV instance's MAC.

convert_image.yml must take the GRUB it finds installed (0.97, whose grub-install is not grub2's) and
go the legacy way - grub.conf and the grub shell's `setup` run against the loop device - and keep
eth0: the kernel gets net.ifnames=0 biosdevname=0, the MAC-bound rule goes. Then the image boots on
IDE and NVMe with a NIC: GRUB 0.97 loads the newest kernel with the menu.lst's own arguments, and eth0
(not ens*) comes up with an address.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.guest.conftest import convert_image
from tests.lab.bootcheck import BUSES, boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.system import loop_device, mounted

pytestmark = [pytest.mark.root, pytest.mark.qemu]

OLD_GUEST = PVImageSpec(size_mib=1024, root_device="/dev/sda1", data_device="", kernel_args="elevator=noop transparent_hugepage=never",
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

    # The stage2 check in the role is what stopped the old silent hang (a stale cached block written back
    # over stage2's first block); the boots are the proof that the disk GRUB 0.97 set up starts.
    for bus in BUSES:
        result = boot(dest, bus, log_dir=tmp_path / f"boot-{bus}", nic=True)
        assert result.booted, f"{bus}: {result.reason}\n{result.tail()}"
        probe = result.probe
        assert probe["root"] == ("/dev/nvme0n1p1" if bus == "nvme" else "/dev/sda1"), probe
        cmdline = probe["cmdline"].split()
        assert {"elevator=noop", "transparent_hugepage=never", "net.ifnames=0", "biosdevname=0"} <= set(cmdline), cmdline
        assert not [arg for arg in cmdline if arg.startswith(("console=hvc", "console=xvc", "xencons="))], cmdline
        links = [line.split(":")[1].strip() for line in probe["link"]]
        assert "eth0" in links and not [name for name in links if name.startswith(("ens", "enp"))], links
        assert any(" eth0 " in f" {line} " and "inet " in line for line in probe["addr"]), probe["addr"]
