"""The boot check's probe: its report is parsed from whole lines only, and boot failures get a reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab import bootcheck, probe

REPORT = """[  OK  ] Started pv2hvm-probe.service - pv2hvm boot check probe.
PV2HVM-PROBE root=/dev/nvme0n1p1
PV2HVM-PROBE fstype=ext4
PV2HVM-PROBE fstab_root=UUID=1234
PV2HVM-PROBE kernel=6.1.0-18-cloud-amd64
PV2HVM-PROBE cmdline=BOOT_IMAGE=/boot/vmlinuz root=UUID=1234 ro net.ifnames=0
PV2HVM-PROBE mount=/dev/nvme0n1p1 / ext4
PV2HVM-PROBE mount=/dev/nvme1n1 /data ext4
PV2HVM-PROBE files=/data 3 5f1c0a
PV2HVM-PROBE link=2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500
PV2HVM-PROBE addr=2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth0
PV2HVM-PROBE init=init
PV2HVM-PROBE machine=i686
pv2hvm-lab login:
PV2HVM-PROBE getty=/sbin/getty --noclear 115200 ttyS0

PV2HVM-PROBE-END
"""


def test_report_is_parsed_once_complete() -> None:
    report = probe.parse(REPORT)
    assert report is not None
    assert report["root"] == "/dev/nvme0n1p1" and report["kernel"] == "6.1.0-18-cloud-amd64"
    assert report["cmdline"].endswith("net.ifnames=0")
    assert report["mount"] == ["/dev/nvme0n1p1 / ext4", "/dev/nvme1n1 /data ext4"]
    assert report["link"] == ["2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500"]
    assert report["addr"] == ["2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth0"]
    assert report["files"] == {"/data": "3 5f1c0a"}
    assert report["init"] == "init" and report["machine"] == "i686" and report["getty"] == ["/sbin/getty --noclear 115200 ttyS0"]


def test_partial_report_and_unit_description_are_not_a_boot() -> None:
    assert probe.parse(REPORT.replace("PV2HVM-PROBE-END\n", "")) is None
    assert probe.parse("[  OK  ] Finished pv2hvm-probe.service - pv2hvm boot check probe.\n") is None
    assert probe.parse("PV2HVM-PROBE-ENDING\n") is None


@pytest.mark.parametrize(("log", "reason"), [
    ("Booting from Hard Disk...\nBoot failed: not a bootable disk\n", "no bootable device: "),
    ("error: no such device: 1234.\nEntering rescue mode...\ngrub rescue> ", "GRUB rescue: error: no such device"),
    ("ALERT!  UUID=1234 does not exist.  Dropping to a shell!\n", "initramfs shell: ALERT!"),
    ("Gave up waiting for root file system device.\n(initramfs) ", "initramfs shell: Gave up waiting for root"),
    ("You are in emergency mode. After logging in, type \"journalctl -xb\"\n", "emergency mode: "),
    ("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n", "kernel panic: "),
])
def test_failure_reasons(log: str, reason: str) -> None:
    found = bootcheck.failure_reason(log)
    assert found is not None and found.startswith(reason), found


def test_a_normal_boot_log_is_no_failure() -> None:
    assert bootcheck.failure_reason("Booting from Hard Disk...\nLinux version 6.1.0\n" + REPORT) is None


@pytest.mark.parametrize(("layout", "expected"), [
    ({"sbin/init": "/lib/systemd/systemd", "lib/systemd/systemd": None}, "systemd"),
    ({"sbin/init": None, "sbin/initctl": None, "etc/init/rc.conf": None}, "upstart"),
    ({"sbin/init": None, "etc/inittab": "id:2:initdefault:\n"}, "sysvinit"),
])
def test_probe_is_hooked_into_the_image_init(tmp_path: Path, layout: dict[str, str | None], expected: str) -> None:
    for name, content in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "sbin/init" and content:
            path.symlink_to(content)
        else:
            path.write_text(content or "", encoding="utf-8")
    assert probe.install(tmp_path) == expected
    script = (tmp_path / "usr/local/sbin/pv2hvm-probe").read_text(encoding="utf-8")
    assert probe.END in script and "uname -r" in script
    hook = {"systemd": "etc/systemd/system/multi-user.target.wants/pv2hvm-probe.service",
            "upstart": "etc/init/pv2hvm-probe.conf", "sysvinit": "etc/inittab"}[expected]
    assert (tmp_path / hook).exists() or (tmp_path / hook).is_symlink()
    if expected == "sysvinit":
        assert probe.INITTAB_LINE in (tmp_path / "etc/inittab").read_text(encoding="utf-8")
    probe.install(tmp_path)  # a second run adds nothing twice
    if expected == "sysvinit":
        assert (tmp_path / "etc/inittab").read_text(encoding="utf-8").count(probe.INITTAB_LINE) == 1


def test_unknown_init_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell the init system"):
        probe.init_system(tmp_path)


def test_files_facts_match_the_data_disks_digest(tmp_path: Path) -> None:
    """The probe's hash of a data mount is what DataDisk.digest promises, so a test can compare them."""
    from tests.lab.images import DataDisk  # pylint: disable=import-outside-toplevel

    files = {"README": b"a\n", "config/app.ini": b"b\n", "orders/2013-11.csv": b"c\n"}
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    (tmp_path / "lost+found").mkdir()
    facts = subprocess.run(["sh", "-c", probe.FILES_FACTS], env={"dir": str(tmp_path), "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, check=True).stdout.split()
    assert facts == ["3", DataDisk(disk=tmp_path / "x", fs_uuid="", files=files).digest]
