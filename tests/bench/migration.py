"""`make bench`: one lab migration's wall time by phase, and three sources in parallel against one.

Runs migrate_pv_to_hvm.yml in the lab (the Debian PV image, this machine as the worker, no test
instance) for one source, then for three sources in one run, and prints one JSON line each:

  sources        how many PV instances the run migrated
  wall_seconds   the whole ansible-playbook run
  phases         seconds per phase (stage, convert, register) from each migration's report

then a line comparing them: `parallel_speedup` = 3 x wall(1 source) / wall(3 sources), i.e. how much
faster three migrations in one run are than three runs one after another. Needs root. A benchmark,
not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import json
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


def run(sources_count: int, disk: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pv2hvm-bench-") as temp:
        work = Path(temp)
        with LabEndpoint(data_dir=str(work / "ebs")) as lab:
            ec2 = lab.client()
            pv = register_pv_image(ec2, name="bench-web", root_snapshot=seed_pv_root(lab, disk), data_volume=False)
            sources = [launch(ec2, pv.image_id, name=f"bench-web-{index}") for index in range(sources_count)]
            worker = register_lab_worker(lab)
            extra = migration_vars(lab, work, sources, pv2hvm_worker_instance_id=worker, pv2hvm_launch_test_instance=False)
            started = time.monotonic()
            result = run_playbook(PLAYBOOK, extra, env=lab.env(), inventory=write_inventory(work))
            wall = time.monotonic() - started
            if result.rc != 0:
                raise SystemExit(f"the benchmark migration failed:\n{result.explain()}")
            reports = [json.loads((work / "reports" / f"pv2hvm-{source}.json").read_text(encoding="utf-8")) for source in sources]
    phases = {phase: [report["seconds"][phase] for report in reports] for phase in ("stage", "convert", "register")}
    return {"bench": "migration", "sources": sources_count, "wall_seconds": round(wall, 1), "phases": phases}


def main() -> int:
    disk = build_pv_image().disk
    one = run(1, disk)
    print(json.dumps(one), flush=True)
    three = run(3, disk)
    print(json.dumps(three), flush=True)
    speedup = 3 * one["wall_seconds"] / three["wall_seconds"]
    print(json.dumps({"bench": "migration-parallel", "one_source_seconds": one["wall_seconds"],
                      "three_sources_seconds": three["wall_seconds"], "parallel_speedup": round(speedup, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
