"""Loop devices on sparse image files, with teardown that runs whatever happened.

`LoopDevices` remembers every loop device and mount it made; `close()` unmounts everything mounted
from those devices (also mounts a crashed module left behind), removes partition nodes and
detaches the loops. The pytest fixture `loops` (tests/integration/disk/conftest.py) calls it in a
`finally`, so `losetup -a` and /proc/mounts are clean after every test, passed or failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional

from tests.lab.system import losetup_attach, run, sha256_file

MIB = 1 << 20


def sh(*argv: str, stdin: Optional[str] = None) -> str:
    """Run a command for a test fixture (tests/lab/system.run); a failure shows the command and its stderr."""
    return run(argv, stdin=stdin)


class LoopDevices:
    """Sparse images under `directory`, attached as loop devices."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.devices: List[str] = []
        self.mounts: List[Path] = []

    def image(self, name: str, size: int) -> Path:
        path = self.directory / name
        with open(path, "wb") as handle:
            handle.truncate(size)
        return path

    def attach(self, image: Path) -> str:
        device = losetup_attach(image)
        self.devices.append(device)
        return device

    def disk(self, name: str, size: int) -> str:
        """A new sparse image of `size` bytes, attached."""
        return self.attach(self.image(name, size))

    def partition(self, device: str, number: int) -> str:
        """Partition node of a loop device, created with partx (no udev here; see DESIGN.md)."""
        sh("partx", "-u", device)
        node = f"{device}p{number}"
        if not os.path.exists(node):
            raise RuntimeError(f"{node} did not appear after partx -u {device}")
        return node

    def mount(self, device: str, options: Iterable[str] = (), fstype: Optional[str] = None) -> Path:
        mountpoint = Path(tempfile.mkdtemp(prefix="mnt-", dir=self.directory))
        options = list(options)
        argv = ["mount"] + (["-t", fstype] if fstype else []) + (["-o", ",".join(options)] if options else [])
        argv += [device, str(mountpoint)]
        sh(*argv)
        self.mounts.append(mountpoint)
        return mountpoint

    def unmount(self, mountpoint: Path) -> None:
        sh("umount", str(mountpoint))
        self.mounts.remove(mountpoint)

    def close(self) -> None:
        """Undo everything; keep going after a failure and report all of them at the end."""
        errors = []
        for mountpoint in reversed(self.mounts + self._mounts_of_our_devices()):
            if os.path.ismount(mountpoint):
                errors += _try("umount", str(mountpoint))
        self.mounts.clear()
        for device in reversed(self.devices):
            if _has_partitions(device):
                errors += _try("partx", "-d", device)
            errors += _try("losetup", "-d", device)
        self.devices.clear()
        if errors:
            raise RuntimeError("teardown failed: " + "; ".join(errors))

    def _mounts_of_our_devices(self) -> List[Path]:
        names = {os.path.basename(device) for device in self.devices}
        found = []
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split()
                source = os.path.basename(fields[fields.index("-") + 2])
                if any(source == name or source.startswith(name + "p") for name in names):
                    found.append(Path(fields[4]))
        return found


def _has_partitions(device: str) -> bool:
    name = os.path.basename(device)
    return any(entry.startswith(name + "p") for entry in os.listdir(f"/sys/class/block/{name}"))


def _try(*argv: str) -> List[str]:
    process = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    return [] if process.returncode == 0 else [f"{' '.join(argv)}: {process.stderr.strip()}"]


def device_checksum(device: str) -> str:
    """Checksum of what a device returns, after dropping its cache so reads reach the image."""
    sh("blockdev", "--flushbufs", device)
    return sha256_file(device)


def blkid(device: str) -> dict:
    """`blkid -p` of a device as a dict ({} when it holds no signature)."""
    process = subprocess.run(["blkid", "-p", "-o", "export", device], capture_output=True, text=True, check=False)
    return dict(line.split("=", 1) for line in process.stdout.splitlines() if "=" in line)


def partition_table(device: str) -> dict:
    """The partition table sfdisk reads from the disk itself."""
    return json.loads(sh("sfdisk", "--json", device))["partitiontable"]


def root_disk() -> str:
    """/dev path of the disk under this machine's `/` (what the modules must never touch)."""
    number = os.stat("/").st_dev
    kname = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(number)}:{os.minor(number)}"))
    if os.path.exists(f"/sys/class/block/{kname}/partition"):
        kname = os.path.basename(os.path.dirname(os.path.realpath(f"/sys/class/block/{kname}")))
    return f"/dev/{kname}"
