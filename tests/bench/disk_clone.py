"""`make bench`: disk_clone against plain dd on 4 GiB sources about a quarter full.

For ext4 and xfs: build a 4 GiB source on a loop device and fill ~25 % of it (a few large files
and many small ones), then copy it to a fresh, sparse 5 GiB destination image (the next whole
GiB, as for an EBS volume) twice: with the disk_clone module (run as ansible runs it, default
options) and with `dd` of the whole device. Each run prints one JSON line:

  wall_seconds     wall-clock time of the copy (both end with the data flushed to the image)
  bytes_read       bytes read from the source device (its /sys/block/*/stat counter; caches
                   are dropped before each run so reads reach the device)
  bytes_written    allocated size of the sparse destination image afterwards (st_blocks)

then one line per filesystem with the ratios and the targets from the issue:
  bytes_written(disk_clone) <= 1.1 x source used bytes, wall(disk_clone) <= 0.5 x wall(dd).
"Source used bytes" is what the filesystem itself counts as allocated (block count minus free
blocks: data plus metadata such as inode tables and the journal or log).
Exits non-zero when a target is missed. Needs root. A benchmark, not a test: nothing here runs
under pytest.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict

from tests.support.loopdev import MIB, LoopDevices, sh
from tests.support.modules import run_module

GIB = 1 << 30
SOURCE_BYTES = 4 * GIB
DESTINATION_BYTES = 5 * GIB
LARGE_FILES = 6
LARGE_FILE_BYTES = 128 * MIB
SMALL_FILES = 12000
SMALL_FILE_MAX = 32 * 1024
TARGET_ALLOCATED_OVER_USED = 1.1
TARGET_WALL_OVER_DD = 0.5


def fill(root: Path) -> None:
    """~1 GiB: large files of random data, and a tree of small files like /usr."""
    for number in range(LARGE_FILES):
        with open(root / f"large{number}.bin", "wb") as handle:
            for _chunk in range(LARGE_FILE_BYTES // (8 * MIB)):
                handle.write(os.urandom(8 * MIB))
    sizes = random.Random(4).choices(range(1, SMALL_FILE_MAX), k=SMALL_FILES)
    for number, size in enumerate(sizes):
        directory = root / "usr" / f"d{number // 200}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{number}").write_bytes(os.urandom(size))


def used_bytes(device: str, fstype: str) -> int:
    if fstype == "ext4":
        header = dict(line.split(":", 1) for line in sh("dumpe2fs", "-h", device).splitlines() if ":" in line)
        return (int(header["Block count"]) - int(header["Free blocks"])) * int(header["Block size"])
    values = dict(line.split(" = ") for line in
                  sh("xfs_db", "-r", "-c", "sb 0", "-c", "print dblocks fdblocks blocksize", device).splitlines())
    return (int(values["dblocks"]) - int(values["fdblocks"])) * int(values["blocksize"])


def sectors_read(device: str) -> int:
    with open(f"/sys/block/{os.path.basename(device)}/stat") as handle:
        return int(handle.read().split()[2])


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as handle:
        handle.write("3\n")


def measure(loops: LoopDevices, source: str, name: str, copy: Callable[[str], None]) -> Dict[str, float]:
    """Copy `source` to a fresh sparse destination with `copy`; time, source reads, allocation."""
    image = loops.image(name, DESTINATION_BYTES)
    destination = loops.attach(image)
    drop_caches()
    read_before = sectors_read(source)
    started = time.monotonic()
    copy(destination)
    wall = time.monotonic() - started
    read = (sectors_read(source) - read_before) * 512
    os.sync()
    return {"wall_seconds": round(wall, 2), "bytes_read": read, "bytes_written": os.stat(image).st_blocks * 512}


def run_disk_clone(source: str, destination: str) -> None:
    result = run_module("disk_clone", {"source": source, "destination": destination})
    if result.failed or not result.changed:
        raise SystemExit(f"disk_clone failed: {result.get('msg')}\n{result.stderr}")


def run_dd(source: str, destination: str) -> None:
    sh("dd", f"if={source}", f"of={destination}", "bs=4M", "conv=fsync", "status=none")


def bench(fstype: str, directory: Path) -> bool:
    loops = LoopDevices(directory)
    try:
        source = loops.disk("source.img", SOURCE_BYTES)
        sh("mkfs.ext4" if fstype == "ext4" else "mkfs.xfs", "-q", "-L", "benchroot", source)
        mountpoint = loops.mount(source)
        fill(mountpoint)
        loops.unmount(mountpoint)
        used = used_bytes(source, fstype)
        runs = {}
        for method, copy in (("disk_clone", lambda dst: run_disk_clone(source, dst)),
                             ("dd", lambda dst: run_dd(source, dst))):
            runs[method] = measure(loops, source, f"{method}.img", copy)
            print(json.dumps(dict(filesystem=fstype, method=method, source_bytes=SOURCE_BYTES,
                                  source_used_bytes=used, **runs[method])), flush=True)
    finally:
        loops.close()
    allocated_ratio = runs["disk_clone"]["bytes_written"] / used
    wall_ratio = runs["disk_clone"]["wall_seconds"] / runs["dd"]["wall_seconds"]
    ok = allocated_ratio <= TARGET_ALLOCATED_OVER_USED and wall_ratio <= TARGET_WALL_OVER_DD
    print(json.dumps({
        "filesystem": fstype, "source_used_fraction": round(used / SOURCE_BYTES, 3),
        "allocated_over_used": round(allocated_ratio, 3), "target_allocated_over_used": TARGET_ALLOCATED_OVER_USED,
        "wall_over_dd": round(wall_ratio, 3), "target_wall_over_dd": TARGET_WALL_OVER_DD, "ok": ok,
    }), flush=True)
    return ok


def main() -> int:
    if os.geteuid() != 0:
        print("make bench needs root (loop devices, mount)", file=sys.stderr)
        return 2
    results = []
    for fstype in ("ext4", "xfs"):
        directory = Path(tempfile.mkdtemp(prefix=f"pv2hvm-bench-{fstype}-"))
        try:
            results.append(bench(fstype, directory))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if not all(results):
        print("bench: a target was missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
