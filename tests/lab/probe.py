"""The boot check's own probe, put into a throw-away copy-on-write overlay of the disk under test.

Any image can be boot-checked, not only the lab's: `prepared_overlay(disk, workdir)` makes a qcow2
overlay whose backing file is `disk` (opened read-only, never written), exposes the overlay as a raw
file through qemu-storage-daemon's FUSE export (this machine kind has neither nbd nor device-mapper),
finds the root filesystem on it (the partition, or the whole disk, that holds /etc/fstab), and adds:

- `/usr/local/sbin/pv2hvm-probe`, a POSIX sh script that prints on ttyS0 how the system came up
  (mounted root device and type, fstab's root entry, `uname -r` and `-m`, `/proc/cmdline`, the block-device
  mounts, each data mount's file count and content hash, the network links and their IPv4 addresses, PID 1's
  name, each getty's command line), one
  `PV2HVM-PROBE key=value` line each, then `PV2HVM-PROBE-END`, and
  powers off;
- what starts it under the image's init: a systemd unit (multi-user.target), an Upstart job, or for
  sysvinit an `/etc/inittab` line.

qemu then boots the overlay. A disk with no recognisable root (a broken conversion) is booted
without a probe: it must fail to boot anyway, and the boot check says how.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Iterator

from tests.lab.system import CommandError, losetup_detach, mounted, run

PREFIX = "PV2HVM-PROBE"
END = f"{PREFIX}-END"

# For the directory in $dir: "<file count> <sha256 of the files' contents in path order>".
FILES_FACTS = ("echo $(find \"$dir\" -xdev -type f | wc -l) "
               "$(find \"$dir\" -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 -r cat | sha256sum | cut -d' ' -f1)")

SCRIPT = f"""#!/bin/sh
# pv2hvm boot check probe (added to a throw-away overlay, never to the image under test).
# Each report line starts on a line of its own: a getty on ttyS0 may have left its login prompt
# (no newline) there just before.
say() {{ printf '\\n%s\\n' "{PREFIX} $1" > /dev/ttyS0; }}
say "root=$(findmnt -n -o SOURCE / 2>/dev/null || awk '$2 == "/" {{d=$1}} END {{print d}}' /proc/mounts)"
say "fstype=$(findmnt -n -o FSTYPE / 2>/dev/null || awk '$2 == "/" {{t=$3}} END {{print t}}' /proc/mounts)"
say "fstab_root=$(awk '$1 !~ /^#/ && $2 == "/" {{print $1}}' /etc/fstab)"
say "kernel=$(uname -r)"
say "machine=$(uname -m)"
say "cmdline=$(cat /proc/cmdline)"
say "init=$(cat /proc/1/comm 2>/dev/null)"
awk '$1 ~ /^\\/dev\\// {{print $1, $2, $3}}' /proc/mounts | while read -r line; do say "mount=$line"; done
# Whether the data on every other disk mount is readable: its file count and the sha256 of the
# files' contents in path order.
awk '$1 ~ /^\\/dev\\// && $2 != "/" && $2 != "/boot" {{print $2}}' /proc/mounts | while read -r dir; do
  say "files=$dir $({FILES_FACTS})"
done
if command -v ip >/dev/null 2>&1; then
  ip -o link | while read -r line; do say "link=$line"; done
  ip -o -4 addr show | while read -r line; do say "addr=$line"; done
else
  for link in /sys/class/net/*; do say "link=${{link##*/}} state $(cat "$link/operstate" 2>/dev/null)"; done
fi
# The login prompts the init system runs: each getty process's command line (one grep over every
# process's name, not a command per process: that takes tens of seconds under TCG).
grep -l getty /proc/[0-9]*/comm 2>/dev/null | while read -r comm; do
  args=$(tr '\\000' ' ' < "${{comm%/comm}}/cmdline" 2>/dev/null)
  say "getty=${{args% }}"
done
printf '\\n%s\\n' "{END}" > /dev/ttyS0
sync
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl --no-block poweroff
else
  poweroff || halt -p
fi
"""

SYSTEMD_UNIT = """[Unit]
Description=pv2hvm boot check probe
After=local-fs.target network.target getty.target systemd-user-sessions.service
ConditionPathExists=/dev/ttyS0

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/pv2hvm-probe

[Install]
WantedBy=multi-user.target
"""

UPSTART_JOB = """# pv2hvm boot check probe
start on runlevel [2345]
task
exec /usr/local/sbin/pv2hvm-probe
"""

INITTAB_LINE = "p2h:2345:once:/usr/local/sbin/pv2hvm-probe\n"


def init_system(root: Path) -> str:
    """The image's init: systemd, upstart or sysvinit (what /sbin/init is)."""
    init = root / "sbin" / "init"
    target = ""
    if init.is_symlink():
        target = str(init.readlink())
    elif (root / "usr/sbin/init").is_symlink():
        target = str((root / "usr/sbin/init").readlink())
    if "systemd" in target:
        return "systemd"
    if (root / "sbin/initctl").exists() or (root / "usr/sbin/initctl").exists():
        return "upstart"
    if (root / "etc/inittab").exists():
        return "sysvinit"
    if any((root / path).exists() for path in ("lib/systemd/systemd", "usr/lib/systemd/systemd")):
        return "systemd"
    raise ValueError(f"{root}: cannot tell the init system (no systemd /sbin/init, initctl or /etc/inittab)")


def install(root: Path) -> str:
    """Put the probe into the mounted root `root`; return the init system it is hooked into."""
    kind = init_system(root)
    script = root / "usr/local/sbin/pv2hvm-probe"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    if kind == "systemd":
        unit = root / "etc/systemd/system/pv2hvm-probe.service"
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(SYSTEMD_UNIT, encoding="utf-8")
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / "pv2hvm-probe.service"
        if not link.is_symlink():
            link.symlink_to("/etc/systemd/system/pv2hvm-probe.service")
    elif kind == "upstart":
        (root / "etc/init").mkdir(parents=True, exist_ok=True)
        (root / "etc/init/pv2hvm-probe.conf").write_text(UPSTART_JOB, encoding="utf-8")
    else:
        inittab = root / "etc/inittab"
        text = inittab.read_text(encoding="utf-8")
        if INITTAB_LINE not in text:
            inittab.write_text(text.rstrip("\n") + "\n" + INITTAB_LINE, encoding="utf-8")
    return kind


def parse(serial: str) -> dict[str, object] | None:
    """The probe's report from a serial log, once its END line is there (else None).

    Single keys map to the last value seen; `mount`, `link`, `addr` and `getty` collect every line, `files` maps each
    mount point to "<count> <sha256>"."""
    if not any(line.strip() == END for line in serial.splitlines()):
        return None
    report: dict[str, object] = {"mount": [], "link": [], "addr": [], "getty": [], "files": {}}
    for line in serial.splitlines():
        line = line.strip()
        if not line.startswith(PREFIX + " ") or "=" not in line:
            continue
        key, value = line[len(PREFIX) + 1:].split("=", 1)
        if key in ("mount", "link", "addr", "getty"):
            report[key].append(value)  # type: ignore[union-attr]
        elif key == "files" and " " in value:
            directory, facts = value.split(" ", 1)
            report["files"][directory] = facts  # type: ignore[index]
        else:
            report[key] = value
    return report


@contextlib.contextmanager
def _fuse_view(overlay: Path, workdir: Path) -> Iterator[Path]:
    """The qcow2 `overlay` as a writable raw file, for as long as the context lasts."""
    view = workdir / "overlay.raw"
    view.touch()
    argv = ["qemu-storage-daemon",
            "--blockdev", f"driver=file,node-name=file0,filename={overlay}",
            "--blockdev", "driver=qcow2,node-name=disk0,file=file0",
            "--export", f"type=fuse,id=export0,node-name=disk0,mountpoint={view},writable=on"]
    log = workdir / "qemu-storage-daemon.log"
    with open(log, "wb") as output:
        daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output)  # pylint: disable=consider-using-with
    try:
        deadline = time.monotonic() + 20
        while not _is_mounted(view):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"qemu-storage-daemon did not export {overlay}: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield view
    finally:
        if daemon.poll() is None and _is_mounted(view):
            # Flush the export (FUSE fsync): the daemon writes the qcow2 overlay only from what reached it.
            descriptor = os.open(view, os.O_RDWR)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        daemon.terminate()
        killed = False
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=30)
            killed = True
        if _is_mounted(view):
            subprocess.run(["umount", "--lazy", str(view)], capture_output=True, check=False)
        view.unlink(missing_ok=True)
        if killed:  # its last writes to the overlay may be missing: never boot that
            raise RuntimeError(f"qemu-storage-daemon did not stop within 30 s; {overlay} may be incomplete")


def _is_mounted(path: Path) -> bool:
    with open("/proc/mounts", encoding="utf-8") as handle:
        return any(line.split()[1:2] == [str(path)] for line in handle)


def _partitions(view: Path) -> list[tuple[int, int]]:
    """(offset, size) in bytes of each partition in `view`'s table; [] when it has none."""
    listing = subprocess.run(["sfdisk", "--json", str(view)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:  # no partition table: a PV disk, a zeroed MBR
        return []
    table = json.loads(listing.stdout)["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    return [(int(part["start"]) * sector, int(part["size"]) * sector) for part in table.get("partitions", [])]


def _fs_options(source: str) -> str:
    fstype = subprocess.run(["blkid", "--probe", "--match-tag", "TYPE", "--output", "value", source],
                            capture_output=True, text=True, check=False).stdout.strip()
    # xfs refuses a second mount of the same UUID (another test may have the original mounted).
    return "nouuid" if fstype == "xfs" else ""


def _inject(view: Path) -> tuple[str | None, list[str]]:
    """Install the probe into the root filesystem found in `view`: the init system it hooked (None: no
    root found), and what each candidate showed.

    Each partition gets its own loop device at the partition's offset, then the whole disk is tried.
    Partition nodes (partx) are not used: their names are shared by every loop user on the machine."""
    notes: list[str] = []
    for offset, size in [*_partitions(view), (0, 0)]:
        where = f"offset {offset}" + (f" size {size}" if size else " (whole disk)")
        argv = ["losetup", "--find", "--show", "--offset", str(offset), *(["--sizelimit", str(size)] if size else []), str(view)]
        device = run(argv).strip()
        try:
            with mounted(device, options=_fs_options(device)) as root:
                if not (root / "etc/fstab").is_file():
                    notes.append(f"{where}: mounted, no /etc/fstab")
                    continue
                return install(root), notes
        except CommandError as error:  # not a mountable filesystem: try the next candidate
            notes.append(f"{where}: {str(error).strip().splitlines()[-1] if str(error).strip() else 'mount failed'}")
        finally:
            # Everything written through the loop device must be in the overlay before the daemon stops.
            subprocess.run(["blockdev", "--flushbufs", device], capture_output=True, check=False)
            losetup_detach(device)
    return None, notes


@contextlib.contextmanager
def prepared_overlay(disk: Path, workdir: Path) -> Iterator[tuple[Path, str | None, list[str]]]:
    """A qcow2 overlay of `disk` with the probe in it, the init system it hooked (None: no root found),
    and what the search for the root saw on each candidate.

    The overlay is removed afterwards; `disk` is only ever read."""
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = workdir / f"{disk.stem}-probe.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(disk), str(overlay)])
    try:
        with _fuse_view(overlay, workdir) as view:
            hooked, notes = _inject(view)
        yield overlay, hooked, notes
    finally:
        overlay.unlink(missing_ok=True)


@contextlib.contextmanager
def plain_overlay(disk: Path, workdir: Path) -> Iterator[Path]:
    """A qcow2 overlay of `disk` with nothing added (a data volume): the guest may write to it, `disk`
    stays as it was. Removed afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = workdir / f"{disk.stem}.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(disk), str(overlay)])
    try:
        yield overlay
    finally:
        overlay.unlink(missing_ok=True)


def describe(report: dict[str, object]) -> str:
    """One line for a person: the probe's main facts."""
    return " ".join(f"{key}={shlex.quote(str(report[key]))}" for key in ("root", "fstype", "fstab_root", "kernel")
                    if key in report)
