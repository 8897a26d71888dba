"""playbooks/convert_image.yml on the lab's real PV image: source untouched, every file kept, boots on IDE and NVMe."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.guest.conftest import run_playbook
from tests.lab.system import sha256_file
from tests.lab import bootcheck
from tests.lab.images import PVImage
from tests.lab.manifest import differences, manifest
from tests.lab.system import loop_device, mounted, run

# One worker for the module: its conversion (a module fixture) is made once, not once per worker.
pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.xdist_group("convert_image")]

# What the conversion may change in the root filesystem: the files the roles rewrite (their
# originals are kept as backups, checked below), the initramfs they rebuild, the PV getty link, the
# package manager's state (the image's grub-pc is installed), and disk_clone's record.
ROLE_CHANGED = (
    "etc/fstab", "boot/grub/", "etc/initramfs-tools/modules", "boot/initrd.img-",
    "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service", "var/lib/dpkg/", "var/cache/debconf/",
    "var/lib/apt/", "var/cache/apt/", "var/log/", "etc/ld.so.cache", "var/lib/pv2hvm/",
)


@dataclasses.dataclass
class Conversion:
    source: Path
    dest: Path
    source_sha_before: str
    source_sha_after: str
    process: subprocess.CompletedProcess[str]
    log: Path
    workdir: Path


@pytest.fixture(scope="module")
def conversion(pv_image: PVImage, session_dir: Path) -> Conversion:
    source = pv_image.disk  # the cached original itself: the conversion must not write it
    dest = session_dir / "hvm.img"
    before = sha256_file(source)
    log = session_dir / "convert_image.log"
    process = run_playbook("cloudops.pv2hvm.convert_image",
                           {"pv2hvm_source_image": str(source), "pv2hvm_dest_image": str(dest)}, log=log)
    return Conversion(source, dest, before, sha256_file(source), process, log, session_dir)


@pytest.fixture(scope="module")
def hvm_root(conversion: Conversion) -> Iterator[Path]:
    assert conversion.process.returncode == 0, conversion.log.read_text(encoding="utf-8")[-6000:]
    with loop_device(conversion.dest, read_only=True, partitions=True) as device:
        with mounted(f"{device}p1", read_only=True, options="noload") as root:
            yield root


def test_playbook_succeeds_and_leaves_the_source_byte_identical(conversion: Conversion) -> None:
    assert conversion.process.returncode == 0, conversion.log.read_text(encoding="utf-8")[-6000:]
    assert conversion.source_sha_after == conversion.source_sha_before


def test_destination_has_an_mbr_with_grub_and_one_partition(conversion: Conversion) -> None:
    table = run(["sfdisk", "--dump", str(conversion.dest)])
    assert "label: dos" in table and len(re.findall(r"(?m)^\S+img1 :", table)) == 1, table
    with open(conversion.dest, "rb") as handle:
        mbr = handle.read(512)
    assert b"GRUB" in mbr[:440] and mbr[510:512] == b"\x55\xaa"


def test_fstab_and_grub_cfg_name_the_root_by_uuid(conversion: Conversion, hvm_root: Path) -> None:
    source = Path(run(["findmnt", "--noheadings", "--output", "SOURCE", "--mountpoint", str(hvm_root)]).strip())
    uuid = run(["blkid", "--probe", "--match-tag", "UUID", "--output", "value", str(source)]).strip()
    fstab = (hvm_root / "etc/fstab").read_text(encoding="utf-8")
    root_lines = [line for line in fstab.splitlines() if line.split()[1:2] == ["/"]]
    assert root_lines and root_lines[0].split()[0] == f"UUID={uuid}", fstab
    grub_cfg = (hvm_root / "boot/grub/grub.cfg").read_text(encoding="utf-8")
    linux_lines = re.findall(r"(?m)^\s*linux\s+.*$", grub_cfg)
    assert linux_lines and all(f"root=UUID={uuid} " in line for line in linux_lines), linux_lines
    assert "/dev/loop" not in grub_cfg and "root=/dev/" not in grub_cfg
    assert "console=ttyS0,115200n8" in linux_lines[0] and "nvme_core.io_timeout=4294967295" in linux_lines[0]


def test_image_grub_package_was_installed_and_preseeded(hvm_root: Path) -> None:
    assert (hvm_root / "usr/sbin/grub-install").exists()
    assert (hvm_root / "etc/resolv.conf").read_text(encoding="utf-8") == "", "the image's resolv.conf was not restored"
    assert not (hvm_root / "usr/sbin/policy-rc.d").exists()
    debconf = (hvm_root / "var/cache/debconf/config.dat").read_text(encoding="utf-8")
    entry = debconf.split("Name: grub-pc/install_devices\n", 1)[1].split("\n\n", 1)[0]
    assert "Value: /dev/nvme0n1" in entry, entry


def test_every_source_file_is_kept(conversion: Conversion, hvm_root: Path) -> None:
    with loop_device(conversion.source, read_only=True) as device, mounted(device, read_only=True, options="noload") as src:
        source_manifest = manifest(src)
        original_fstab = (src / "etc/fstab").read_text(encoding="utf-8")
        original_menu = (src / "boot/grub/menu.lst").read_text(encoding="utf-8")
    problems = differences(source_manifest, manifest(hvm_root), allowed=ROLE_CHANGED)
    assert not problems, "\n".join(problems[:50])
    backups = {path.name: path.read_text(encoding="utf-8") for path in
               [*(hvm_root / "etc").glob("fstab.*~"), *(hvm_root / "boot/grub").glob("menu.lst.*~")]}
    assert original_fstab in backups.values() and original_menu in backups.values(), sorted(backups)
    assert (hvm_root / "boot/grub/menu.lst").exists(), "the PV menu.lst must be kept"


@pytest.mark.parametrize("bus", bootcheck.BUSES)
def test_converted_image_boots(conversion: Conversion, pv_image: PVImage, bus: str) -> None:
    assert conversion.process.returncode == 0, conversion.log.read_text(encoding="utf-8")[-6000:]
    result = bootcheck.boot(conversion.dest, bus, log_dir=conversion.workdir / f"boot-{bus}")
    assert result.booted, f"{result.reason}\n{result.tail()}"
    report = result.probe
    assert report["root"] == ("/dev/sda1" if bus == "ide" else "/dev/nvme0n1p1"), report
    assert report["fstype"] == "ext4" and report["fstab_root"].startswith("UUID="), report
    assert re.search(r"^\S*vmlinuz\S* root=UUID=\S+ ro .*console=ttyS0,115200n8", report["cmdline"]), report
    # The guest's own arguments from its PV menu.lst survive; the PV console does not.
    assert set(pv_image.spec.kernel_args.split()) <= set(report["cmdline"].split()), report
    assert "console=hvc0" not in report["cmdline"].split(), report
    print(f"booted on {bus} ({result.accel}) in {result.seconds} s: {result.summary}")
