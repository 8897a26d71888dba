"""The lab's PV image is a real PV root disk: no partition table, no boot loader, PV settings."""

from __future__ import annotations

import pytest

from tests.lab.images import PVImage, build_data_disk, build_pv_image
from tests.lab.system import loop_device, mounted, run

pytestmark = pytest.mark.root


def test_pv_disk_is_an_unpartitioned_filesystem_without_boot_loader(pv_image: PVImage) -> None:
    probe = run(["blkid", "--probe", "--output", "export", str(pv_image.disk)])
    assert "TYPE=ext4" in probe and "PTTYPE" not in probe, probe
    with open(pv_image.disk, "rb") as handle:
        boot_sector = handle.read(512)
    assert b"GRUB" not in boot_sector and boot_sector[510:512] != b"\x55\xaa", "a PV root disk has no MBR"


def test_pv_configuration_inside(pv_image: PVImage) -> None:
    with loop_device(pv_image.disk, read_only=True) as device, mounted(device, read_only=True, options="noload") as root:
        fstab = (root / "etc/fstab").read_text(encoding="utf-8")
        menu = (root / "boot/grub/menu.lst").read_text(encoding="utf-8")
        kernels = sorted(path.name for path in (root / "boot").glob("vmlinuz-*"))
        hvc0 = root / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"
        assert hvc0.is_symlink()
        # No lab payload: the boot check brings its own probe, as for a user's image.
        assert not list((root / "usr/local/sbin").iterdir())
        assert not [path for path in (root / "etc/systemd/system").rglob("*") if "pv2hvm" in path.name]
        assert not (root / "usr/sbin/grub-install").exists(), "the PV image must have no boot loader"
        assert not (root / "etc/default/grub").exists()
    # Two real kernels, as on a kept-up-to-date machine; a menu entry each, the newest first and default.
    assert len(pv_image.kernel_versions) == 2 and pv_image.kernel_version == pv_image.kernel_versions[0]
    assert kernels == sorted(f"vmlinuz-{version}" for version in pv_image.kernel_versions)
    assert all(version.endswith("-cloud-amd64") for version in pv_image.kernel_versions)
    titles = [line for line in menu.splitlines() if line.startswith("title ")]
    assert [title.rsplit(" ", 1)[-1] for title in titles] == list(pv_image.kernel_versions), menu
    assert "/dev/xvde1\t/\text4" in fstab
    assert "/dev/xvdf\t/srv/appdata\text4\tdefaults\t0\t2" in fstab, "a data volume by PV device name, without nofail"
    assert "root (hd0)" in menu
    assert f"kernel /boot/vmlinuz-{pv_image.kernel_version} root=/dev/xvde1 ro console=hvc0" in menu


def test_second_build_comes_from_the_cache(pv_image: PVImage) -> None:
    again = build_pv_image()
    assert again.cached and again.disk == pv_image.disk and again.fs_uuid == pv_image.fs_uuid


def test_data_disk_is_an_ext4_volume_with_its_files(tmp_path) -> None:
    data = build_data_disk(tmp_path / "data.img")
    probe = run(["blkid", "--probe", "--output", "export", str(data.disk)])
    assert "TYPE=ext4" in probe and "LABEL=appdata" in probe and f"UUID={data.fs_uuid}" in probe, probe
    with loop_device(data.disk, read_only=True) as device, mounted(device, read_only=True, options="noload") as root:
        assert {name: (root / name).read_bytes() for name in data.files} == data.files
