"""Small, careful wrappers around the root-only tools the lab uses: commands, loop devices, mounts.

Every context manager here undoes what it did, also when the body raises, so `losetup -a` and
/proc/mounts are clean after a test whatever happened in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import tempfile
import time
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


_DIGEST_BLOCK = 1 << 20
_ZERO_BLOCK = bytes(_DIGEST_BLOCK)
# A file's digest by what identifies its content: the kernel sets ctime on every write, truncate and
# mmap store, so an unchanged (device, inode, size, mtime, ctime) means unchanged bytes. A digest is
# kept only when the file was not written during the read and its ctime lies a second in the past
# (the kernel's coarse clock could give a write in the same tick the same ctime).
_digests: dict[tuple[int, ...], str] = {}


def sha256_file(path: Path | str) -> str:
    """A SHA-256 digest of a file's or device's content, 1 MiB block by block, a block of zeros (a hole
    or written zeros alike) as its length: equal content, equal digest, whatever is allocated. Holes are
    skipped unread; an unchanged regular file is not read again (see _digests)."""
    before = os.stat(path)
    key = (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns)
    regular = stat.S_ISREG(before.st_mode)
    if regular and key in _digests:
        return _digests[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        offset = 0
        while True:
            if regular:
                try:
                    data = os.lseek(handle.fileno(), offset, os.SEEK_DATA)
                except OSError:  # ENXIO: only a hole is left
                    data = before.st_size
                data -= data % _DIGEST_BLOCK
                while offset < data:
                    digest.update(b"\0%d;" % min(_DIGEST_BLOCK, before.st_size - offset))
                    offset += _DIGEST_BLOCK
            block = os.pread(handle.fileno(), _DIGEST_BLOCK, offset)
            if not block:
                break
            digest.update(b"\0%d;" % len(block) if block == _ZERO_BLOCK[:len(block)] else block)
            offset += len(block)
    after = os.stat(path)
    if regular and (after.st_size, after.st_mtime_ns, after.st_ctime_ns) == key[2:] and after.st_ctime_ns < time.time_ns() - 10**9:
        _digests[key] = digest.hexdigest()
    return digest.hexdigest()


def leftovers(marker: str) -> list[str]:
    """Loop devices and mounts whose backing file or mount point contains `marker` (for tests)."""
    found = [line for line in run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"]).splitlines()
             if marker in line]
    with open("/proc/mounts", encoding="utf-8") as handle:
        found += [line.strip() for line in handle if marker in line]
    return found
