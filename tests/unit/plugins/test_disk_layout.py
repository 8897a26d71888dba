"""disk_clone's partition layout arithmetic and block_device's NVMe serial lookup (no devices needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.modules import block_device, disk_clone

MIB = 1 << 20


def test_msdos_partition_from_1_mib_to_the_end() -> None:
    layout = disk_clone.plan_layout("msdos", 768 * MIB, 512, 512 * MIB)
    assert (layout.root_start, layout.root_sectors, layout.bios_grub_start) == (2048, 768 * 2048 - 2048, None)
    assert layout.required_bytes == 513 * MIB
    assert layout.sfdisk_script() == ("label: dos\nunit: sectors\n\n"
                                      f"start=2048, size={768 * 2048 - 2048}, type=83, bootable\n")


@pytest.mark.parametrize("sector, backup", [(512, 33), (4096, 5)])
def test_gpt_leaves_room_for_bios_grub_and_the_backup_table(sector: int, backup: int) -> None:
    size = 10 * 1024 * MIB
    layout = disk_clone.plan_layout("gpt", size, sector, 8 * 1024 * MIB)
    mib = MIB // sector
    assert (layout.bios_grub_start, layout.root_start) == (mib, 2 * mib)
    # The last usable sector is the one before the backup header and its entry array.
    assert layout.root_start + layout.root_sectors - 1 == size // sector - 1 - backup
    assert layout.required_bytes == (2 * mib + backup) * sector + 8 * 1024 * MIB
    script = layout.sfdisk_script()
    assert "label: gpt" in script and f"start={mib}, size={mib}, type=21686148-6449-6E6F-744E-656564454649" in script
    assert "attrs=LegacyBIOSBootable" in script


def test_a_disk_too_small_has_no_negative_partition() -> None:
    layout = disk_clone.plan_layout("gpt", MIB, 512, 100 * MIB)
    assert layout.root_sectors == 0 and layout.required_bytes > MIB


def test_human_sizes() -> None:
    assert disk_clone.human(512) == "512 bytes"
    assert disk_clone.human(3 * MIB // 2) == "1.5 MiB"
    assert disk_clone.human(2 << 40) == "2.0 TiB"


def test_nvme_controller_serial_without_udev(tmp_path: Path) -> None:
    for controller, serial, namespace in (("nvme0", "vol0aaaaaaaaaaaaaaaa", "nvme0n1"),
                                          ("nvme1", "vol0123456789abcdef0  ", "nvme1c1n1")):
        (tmp_path / controller / namespace).mkdir(parents=True)
        (tmp_path / controller / "serial").write_text(serial + "\n")
    assert block_device.find_by_nvme_serial("vol-0aaaaaaaaaaaaaaaa", str(tmp_path)) == "/dev/nvme0n1"
    # Native multipath lists the path (nvme1c1n1); the block device is nvme1n1.
    assert block_device.find_by_nvme_serial("vol-0123456789abcdef0", str(tmp_path)) == "/dev/nvme1n1"
    assert block_device.find_by_nvme_serial("vol-0bbbbbbbbbbbbbbbb", str(tmp_path)) is None
    assert block_device.find_by_nvme_serial("vol-0bbbbbbbbbbbbbbbb", str(tmp_path / "missing")) is None
