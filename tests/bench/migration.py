"""`make bench`: one lab migration's wall time by phase, three sources in parallel against one, and the
two methods (a worker, the EBS direct APIs) side by side.

Runs migrate_pv_to_hvm.yml in the lab (the Debian PV image, this machine as the worker or the conversion
host, no test instance) for one source, then for three sources in one run, then one source with
pv2hvm_method=ebs_direct, and prints one JSON line each:

  method         worker or ebs_direct
  sources        how many PV instances the run migrated
  wall_seconds   the whole ansible-playbook run
  phases         seconds per phase (stage, convert, register) from each migration's report
  bytes          what the migration moved: ebs_direct's downloaded and uploaded bytes (EBS direct blocks);
                 the worker's volumes (GiB made, bytes copied on the worker); for both the AMI root
                 snapshot's allocated bytes

then `parallel_speedup` = 3 x wall(1 source) / wall(3 sources), and a line with both methods' phases and
bytes side by side, with ebs_direct's targets: downloaded <= 1.05 x the source snapshot's allocated bytes
(its listed 512 KiB blocks) and uploaded <= 1.05 x the HVM image's non-zero bytes (its 512 KiB blocks that
are not all zeros); the exit code is 1 if one is missed. `nonzero_4k_bytes` shows how much of those blocks
is data at 4 KiB granularity (informational). Needs root. A benchmark, not a test: nothing here runs under
pytest.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.lab.demo import PLAYBOOK, migration_vars, write_inventory
from tests.lab.endpoint import LabEndpoint
from tests.lab.images import build_pv_image
from tests.lab.world import launch, register_lab_worker, register_pv_image, seed_pv_root
from tests.support.playbooks import run_playbook


BLOCK = 512 * 1024
TARGET_RATIO = 1.05


def block_counts(path: Path) -> tuple[int, int]:
    """(512 KiB blocks that are not all zeros, bytes of non-zero 4 KiB pages) of a sparse file, reading only its data."""
    blocks = pages = 0
    with open(path, "rb") as handle:
        size, offset = os.fstat(handle.fileno()).st_size, 0
        while offset < size:
            try:
                offset = os.lseek(handle.fileno(), offset, os.SEEK_DATA)
            except OSError:
                break
            end = min(os.lseek(handle.fileno(), offset, os.SEEK_HOLE), size)
            offset -= offset % BLOCK
            while offset < end:
                data = os.pread(handle.fileno(), BLOCK, offset)
                if data.count(0) != len(data):
                    blocks += 1
                    pages += sum(4096 for page in range(0, len(data), 4096) if data[page:page + 4096].count(0) != 4096)
                offset += BLOCK
    return blocks, pages


def moved_bytes(lab: LabEndpoint, pv_root: str, report: dict[str, Any]) -> dict[str, Any]:
    snapshot = lab.ebs.snapshot_file(report["image"]["snapshot_ids"][0])  # the root (no data volume here)
    ami_blocks, ami_pages = block_counts(snapshot)
    moved: dict[str, Any] = {"ami_root_snapshot_bytes": ami_blocks * BLOCK, "nonzero_4k_bytes": ami_pages}
    if report["method"] == "ebs_direct":
        source_blocks = block_counts(lab.ebs.snapshot_file(pv_root))[0]
        moved.update(source_allocated_bytes=source_blocks * BLOCK,
                     downloaded_bytes=report["transfer"]["download"]["bytes_downloaded"],
                     uploaded_bytes=report["transfer"]["upload"]["bytes_uploaded"], hvm_image_nonzero_bytes=ami_blocks * BLOCK)
    else:
        moved.update(volumes_gib=int(report["destination"]["size_gib"]) + int(report["copy"]["source_gib"]),
                     copied_bytes=int(report["copy"]["used_bytes"]))
    return moved


def run(sources_count: int, disk: Path, method: str = "worker") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pv2hvm-bench-") as temp:
        work = Path(temp)
        with LabEndpoint(data_dir=str(work / "ebs")) as lab:
            ec2 = lab.client()
            pv = register_pv_image(ec2, name="bench-web", root_snapshot=seed_pv_root(lab, disk), data_volume=False)
            sources = [launch(ec2, pv.image_id, name=f"bench-web-{index}") for index in range(sources_count)]
            how = ({"pv2hvm_method": "ebs_direct", "pv2hvm_conversion_dir": str(work / "images")} if method == "ebs_direct"
                   else {"pv2hvm_worker_instance_id": register_lab_worker(lab)})
            extra = migration_vars(lab, work, sources, pv2hvm_launch_test_instance=False, **how)
            started = time.monotonic()
            result = run_playbook(PLAYBOOK, extra, env=lab.env(), inventory=write_inventory(work))
            wall = time.monotonic() - started
            if result.rc != 0:
                raise SystemExit(f"the benchmark migration failed:\n{result.explain()}")
            reports = [json.loads((work / "reports" / f"pv2hvm-{source}.json").read_text(encoding="utf-8")) for source in sources]
            moved = [moved_bytes(lab, pv.root_snapshot, report) for report in reports]
    phases = {phase: [report["seconds"][phase] for report in reports] for phase in ("stage", "convert", "register")}
    return {"bench": "migration", "method": method, "sources": sources_count, "wall_seconds": round(wall, 1), "phases": phases,
            "bytes": moved}


def compare(worker: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    moved = direct["bytes"][0]
    download_ratio = moved["downloaded_bytes"] / moved["source_allocated_bytes"]
    upload_ratio = moved["uploaded_bytes"] / moved["hvm_image_nonzero_bytes"]
    return {"bench": "migration-methods",
            "phases": {phase: {"worker": worker["phases"][phase][0], "ebs_direct": direct["phases"][phase][0]}
                       for phase in ("stage", "convert", "register")},
            "wall_seconds": {"worker": worker["wall_seconds"], "ebs_direct": direct["wall_seconds"]},
            "bytes": {"worker": worker["bytes"][0], "ebs_direct": moved},
            "download_ratio": round(download_ratio, 3), "upload_ratio": round(upload_ratio, 3),
            "targets_met": download_ratio <= TARGET_RATIO and upload_ratio <= TARGET_RATIO}


def main() -> int:
    disk = build_pv_image().disk
    one = run(1, disk)
    print(json.dumps(one), flush=True)
    three = run(3, disk)
    print(json.dumps(three), flush=True)
    speedup = 3 * one["wall_seconds"] / three["wall_seconds"]
    print(json.dumps({"bench": "migration-parallel", "one_source_seconds": one["wall_seconds"],
                      "three_sources_seconds": three["wall_seconds"], "parallel_speedup": round(speedup, 2)}), flush=True)
    direct = run(1, disk, method="ebs_direct")
    print(json.dumps(direct), flush=True)
    methods = compare(one, direct)
    print(json.dumps(methods), flush=True)
    return 0 if methods["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
