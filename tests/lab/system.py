"""Small, careful wrappers around the root-only tools the lab uses: commands, loop devices, mounts.

Every context manager here undoes what it did, also when the body raises, so `losetup -a` and
/proc/mounts are clean after a test whatever happened in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Sequence


class CommandError(RuntimeError):
    """A command failed; the message carries the command line and its stderr."""


def run(argv: Sequence[str], *, timeout: float = 1800, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Run `argv`, return its stdout; raise CommandError with stderr on a non-zero exit."""
    process = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        env=None if env is None else {**os.environ, **env},
    )
    if process.returncode != 0:
        raise CommandError(
            f"command failed (exit {process.returncode}): {' '.join(argv)}\n"
            f"stderr:\n{process.stderr.strip()}\nstdout (tail):\n{process.stdout.strip()[-2000:]}"
        )
    return process.stdout


def losetup_attach(image: Path, *, read_only: bool = False) -> str:
    """Attach `image` to a free loop device and return the device path."""
    argv = ["losetup", "--find", "--show"]
    if read_only:
        argv.append("--read-only")
    return run([*argv, str(image)]).strip()


def losetup_detach(device: str) -> None:
    run(["losetup", "--detach", device])


@contextlib.contextmanager
def loop_device(image: Path, *, read_only: bool = False, partitions: bool = False) -> Iterator[str]:
    """A loop device for `image`, detached afterwards.

    With partitions=True the partition nodes (loopNpM) are made to match `image`'s table with
    `partx -u`: this machine kind's kernel does not scan partition tables on loop devices by itself,
    and it keeps a loop device's partition nodes after `losetup -d`, so a node left by an earlier
    user of the same loopN must be resized or removed, not added (`partx -a` fails on it).
    """
    device = losetup_attach(image, read_only=read_only)
    try:
        if partitions:
            run(["partx", "--update", device])
        yield device
    finally:
        if partitions:
            subprocess.run(["partx", "--delete", device], capture_output=True, check=False)
        losetup_detach(device)


@contextlib.contextmanager
def mounted(source: str, *, read_only: bool = False, options: str = "") -> Iterator[Path]:
    """`source` mounted on a fresh temporary directory, unmounted and removed afterwards."""
    target = Path(tempfile.mkdtemp(prefix="pv2hvm-mnt-"))
    opts = ",".join(filter(None, ["ro" if read_only else "", options]))
    try:
        run(["mount", *(["-o", opts] if opts else []), source, str(target)])
        try:
            yield target
        finally:
            run(["umount", str(target)])
    finally:
        target.rmdir()


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a whole file or device, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def leftovers(marker: str) -> list[str]:
    """Loop devices and mounts whose backing file or mount point contains `marker` (for tests)."""
    found = [line for line in run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"]).splitlines()
             if marker in line]
    with open("/proc/mounts", encoding="utf-8") as handle:
        found += [line.strip() for line in handle if marker in line]
    return found
