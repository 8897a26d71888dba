"""Boot a disk image the way an HVM instance boots it, and tell whether the guest really came up.

qemu-system-x86_64 with SeaBIOS runs the boot loader in the disk's MBR, like the HVM firmware does.
The disk sits on IDE (what a Xen HVM guest is first shown) or on NVMe (what Nitro shows) and is the
only boot device (`-nic none -boot order=c,strict=on`, no CD, no network boot; `nic=True` adds one
virtio NIC for the network-name checks). qemu boots a throw-away qcow2 overlay of the disk into
which the check has put its own probe (tests/lab/probe.py), so any image can be checked, not only
the lab's, and the disk itself is never written. The check passes only when the probe's report
(`PV2HVM-PROBE root=... fstype=... fstab_root=... kernel=... cmdline=...`, mounts, links, then
`PV2HVM-PROBE-END`) reached the serial log. SeaBIOS's own messages (debugcon port 0x402) go to a
second log, so "No bootable device" ends a failed boot at once; GRUB rescue, an initramfs shell,
emergency mode and a kernel panic end it too, each with its reason.

    result = boot(Path("hvm.img"), bus="nvme")
    assert result.booted, result.reason
    assert result.probe["root"] == "/dev/nvme0n1p1"
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.lab import probe as boot_probe

BUSES = ("ide", "nvme")
# What ends a boot early as failed, and the reason's prefix: the firmware found nothing, GRUB gave
# up, the initramfs found no root, systemd or sysvinit fell to a maintenance shell, the kernel gave up.
FAILURES = (
    ("no bootable device", re.compile(r"No bootable device.*|Boot failed: not a bootable disk.*")),
    ("GRUB rescue", re.compile(r"error: (no such device|file `[^']*' not found|unknown filesystem)[^\n]*|grub rescue>")),
    ("initramfs shell", re.compile(r"ALERT! [^\n]* does not exist[^\n]*|Gave up waiting for root[^\n]*|\(initramfs\)")),
    ("dracut shell", re.compile(r"dracut-initqueue\[\d+\]: Warning: Could not boot[^\n]*|dracut:/#")),
    ("emergency mode", re.compile(r"You are in emergency mode[^\n]*|Give root password for maintenance[^\n]*")),
    ("kernel panic", re.compile(r"Kernel panic - not syncing[^\n]*")),
)
MAX_DATA_DISKS = 3  # IDE has four slots; the root takes one
HARD_TIMEOUT = 420.0
STALL_TIMEOUT = 120.0
KVM_PROBE_SECONDS = 20.0


@dataclasses.dataclass(frozen=True)
class BootResult:
    """What one boot showed. `booted` is True only when the probe's whole report was seen."""

    booted: bool
    probe: dict[str, Any] | None
    init: str | None
    log_path: Path
    bios_log_path: Path
    seconds: float
    accel: str
    bus: str
    reason: str

    @property
    def summary(self) -> str:
        """The probe's main facts on one line, or why the boot failed."""
        return boot_probe.describe(self.probe) if self.probe else self.reason

    def tail(self, lines: int = 40) -> str:
        """The end of the serial log, for assertion messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        bios = self.bios_log_path.read_text(encoding="utf-8", errors="replace") if self.bios_log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) + "\n--- SeaBIOS ---\n" + "\n".join(bios.splitlines()[-8:])


def boot(
    disk: Path,
    bus: str = "ide",
    *,
    log_dir: Path | None = None,
    hard_timeout: float = HARD_TIMEOUT,
    stall_timeout: float = STALL_TIMEOUT,
    memory_mib: int = 1024,
    nic: bool = False,
    data_disks: tuple[Path, ...] = (),
) -> BootResult:
    """Boot an overlay of `disk` (raw) with the probe in it from its MBR on `bus`; wait for the probe's
    report, a failure, or a timeout.

    `data_disks` (raw, e.g. an AMI's data snapshots) are attached after the root on the same bus, each
    through its own throw-away overlay, as the instance's data volumes: nvme1n1... on NVMe."""
    if bus not in BUSES:
        raise ValueError(f"bus {bus!r} is not supported; use one of {BUSES}")
    disk = Path(disk).resolve()
    if not disk.is_file():
        raise FileNotFoundError(f"no disk image at {disk}")
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="pv2hvm-boot-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{disk.stem}-{bus}.serial.log"
    bios_log_path = log_dir / f"{disk.stem}-{bus}.seabios.log"
    accel = "kvm" if kvm_boots_kernels() else "tcg"
    if len(data_disks) > MAX_DATA_DISKS:
        raise ValueError(f"at most {MAX_DATA_DISKS} data disks can be attached, not {len(data_disks)}")
    with contextlib.ExitStack() as stack:
        overlay, init, notes = stack.enter_context(boot_probe.prepared_overlay(disk, log_dir / f"overlay-{bus}"))
        data = [stack.enter_context(boot_probe.plain_overlay(Path(extra).resolve(), log_dir / f"overlay-{bus}-data{number}"))
                for number, extra in enumerate(data_disks, start=1)]
        argv = qemu_argv(overlay, bus, accel=accel, serial_log=log_path, bios_log=bios_log_path,
                         memory_mib=memory_mib, nic=nic, data_disks=data)
        return _watch(argv, bus=bus, accel=accel, init=init, root_notes=notes, log_path=log_path, bios_log_path=bios_log_path,
                      hard_timeout=hard_timeout, stall_timeout=stall_timeout)


def qemu_argv(disk: Path, bus: str, *, accel: str, serial_log: Path, bios_log: Path, memory_mib: int = 1024,
              nic: bool = False, data_disks: list[Path] | tuple[Path, ...] = ()) -> list[str]:
    """qemu's command line for booting `disk` (a qcow2 overlay) from its MBR on `bus`, with `data_disks`
    (qcow2 overlays) after it: IDE slots in order, or one NVMe controller each as on Nitro."""
    drive = f"file={disk},format=qcow2,if=none,id=root"
    device = (["-device", "ide-hd,drive=root,bus=ide.0,unit=0,bootindex=0"] if bus == "ide"
              else ["-device", "nvme,drive=root,serial=vol0pv2hvmlab,bootindex=0"])
    for number, extra in enumerate(data_disks, start=1):
        device += ["-drive", f"file={extra},format=qcow2,if=none,id=data{number}"]
        device += (["-device", f"ide-hd,drive=data{number},bus=ide.{number // 2},unit={number % 2}"] if bus == "ide"
                   else ["-device", f"nvme,drive=data{number},serial=vol{number}pv2hvmlab"])
    return [
        "qemu-system-x86_64", "-machine", f"pc,accel={accel}", "-m", str(memory_mib), "-smp", "1",
        "-nodefaults", "-display", "none", "-no-reboot",
        *(["-nic", "user,model=virtio-net-pci,restrict=on"] if nic else ["-nic", "none"]), "-boot", "order=c,strict=on",
        "-drive", drive, *device,
        "-chardev", f"file,id=serial0,path={serial_log}", "-serial", "chardev:serial0",
        "-chardev", f"file,id=seabios,path={bios_log}", "-device", "isa-debugcon,iobase=0x402,chardev=seabios",
    ]


def failure_reason(log_text: str) -> str | None:
    """Why a boot failed, from the serial and firmware logs so far (None: no failure seen yet)."""
    for kind, regex in FAILURES:
        found = regex.search(log_text)
        if found:
            return f"{kind}: {found.group(0).strip()}"
    return None


def _watch(argv: list[str], *, bus: str, accel: str, init: str | None, root_notes: list[str], log_path: Path, bios_log_path: Path,
           hard_timeout: float, stall_timeout: float) -> BootResult:
    started = time.monotonic()
    for path in (log_path, bios_log_path):
        path.write_bytes(b"")
    stderr_path = log_path.with_suffix(".qemu-stderr.log")
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)  # pylint: disable=consider-using-with
    last_size, last_progress = -1, started
    report: dict[str, Any] | None = None
    reason = "" if init else (f"no root filesystem with /etc/fstab found on the disk ({'; '.join(root_notes) or 'nothing to try'}): "
                              "booted without the probe; ")
    try:
        while True:
            exited = process.poll() is not None
            serial = log_path.read_text(encoding="utf-8", errors="replace")
            bios = bios_log_path.read_text(encoding="utf-8", errors="replace")
            report = boot_probe.parse(serial)
            if report:
                reason = "probe report seen"
                break
            failure = failure_reason(serial + "\n" + bios)
            if failure:
                reason += failure
                break
            if exited:
                qemu_err = stderr_path.read_text(encoding="utf-8", errors="replace").strip()
                reason += f"qemu exited (rc {process.returncode}) without the probe's report" + (f": {qemu_err}" if qemu_err else "")
                break
            now = time.monotonic()
            size = len(serial) + len(bios)
            if size != last_size:
                last_size, last_progress = size, now
            if now - last_progress > stall_timeout:
                reason += f"stalled: no console output for {stall_timeout:.0f} s"
                break
            if now - started > hard_timeout:
                reason += f"timed out after {hard_timeout:.0f} s"
                break
            time.sleep(0.5)
    finally:
        # With the report read there is nothing left to see: the overlay is thrown away, so the guest's own
        # shutdown (15 s and more under TCG) is not waited for.
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    return BootResult(booted=report is not None, probe=report, init=init, log_path=log_path,
                      bios_log_path=bios_log_path, seconds=round(time.monotonic() - started, 1),
                      accel=accel, bus=bus, reason=reason)


@functools.lru_cache(maxsize=1)
def kvm_boots_kernels() -> bool:
    """Whether KVM really runs a Linux kernel here (a nested hypervisor may offer /dev/kvm and fail).

    Boots the lab image's kernel directly under KVM and waits for "Linux version" on the serial port.
    `PV2HVM_QEMU_ACCEL=tcg|kvm` overrides the probe.
    """
    forced = os.environ.get("PV2HVM_QEMU_ACCEL")
    if forced in ("tcg", "kvm"):
        return forced == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    from tests.lab.images import build_pv_image, cache_dir  # pylint: disable=import-outside-toplevel

    # Up to KVM_PROBE_SECONDS per process (every test worker, every demo): the answer holds until the machine reboots.
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    answer = cache_dir() / f"kvm-probe-{boot_id}"
    if answer.exists():
        return answer.read_text(encoding="utf-8").strip() == "kvm"
    kernel = build_pv_image().kernel
    works = _kvm_boots(kernel)
    answer.parent.mkdir(parents=True, exist_ok=True)
    answer.write_text("kvm\n" if works else "tcg\n", encoding="utf-8")
    return works


def _kvm_boots(kernel: Path) -> bool:
    with tempfile.TemporaryDirectory(prefix="pv2hvm-kvm-probe-") as workdir:
        log = Path(workdir) / "serial.log"
        argv = ["qemu-system-x86_64", "-machine", "pc,accel=kvm", "-cpu", "host", "-m", "256", "-nodefaults",
                "-display", "none", "-no-reboot", "-nic", "none", "-kernel", str(kernel),
                "-append", "console=ttyS0 panic=-1", "-serial", f"file:{log}"]
        with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
            deadline = time.monotonic() + KVM_PROBE_SECONDS
            try:
                while time.monotonic() < deadline and process.poll() is None:
                    if log.exists() and "Linux version" in log.read_text(encoding="utf-8", errors="replace"):
                        return True
                    time.sleep(0.5)
                return log.exists() and "Linux version" in log.read_text(encoding="utf-8", errors="replace")
            finally:
                if process.poll() is None:
                    process.kill()
