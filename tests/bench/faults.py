"""`make faults`: every fault case of issue 17, one JSON line per case.

- The EC2 fault matrix (tests/lab/fault_matrix.py): each AWS step's module call, throttled or refused.
- Whole migrations (tests/lab/migration_faults.py, as root): a resource stuck "pending"/"attaching",
  and the controller killed at every step in turn, each run resuming the one before, then one plain
  re-run that must converge.
- AWS out of reach (tests/lab/unreachable_faults.py, issue 28): the endpoint gone at the stage step, in the
  middle of the rollback, back during the summary; the credentials expiring mid-migration, then a re-run.

Each line: step, fault, outcome, seconds, leaked (what the case left that it should not have; must be
0; for the crashes, what the converged migration left besides its AMI, counted on every crash line).
Exits non-zero if any case did not end as it should. The same cases run as tests in `make test`
(tests/integration/aws/test_api_faults.py, tests/integration/migration/test_stuck.py, test_crash.py,
test_unreachable.py).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.lab import fault_matrix, migration_faults, unreachable_faults
from tests.lab.endpoint import LabEndpoint
from tests.lab.images import build_pv_image
from tests.lab.migration import migration_lab
from tests.lab.world import register_lab_worker


def line(step: str, fault: str, outcome: str, seconds: float, leaked: int) -> bool:
    print(json.dumps({"step": step, "fault": fault, "outcome": outcome, "seconds": seconds, "leaked": leaked}), flush=True)
    return outcome in PASSED and not leaked


RESUMED_UPLOAD = "died there; the re-run resumed the upload into one snapshot"
CLEANED_UP = "died there; cleanup.yml given the conversion host removed everything"
PASSED = ("retried and succeeded", "failed as it should", "died there; resumed by the next run", "converged on one completed AMI",
          RESUMED_UPLOAD, CLEANED_UP, unreachable_faults.FINISHED, unreachable_faults.TERMINATED, unreachable_faults.RENEWED)


def api_cases() -> list[bool]:
    lab = LabEndpoint().start()
    try:
        cases = [(fault_matrix.run_throttled, case) for case in fault_matrix.THROTTLED]
        cases += [(fault_matrix.run_refused, case) for case in fault_matrix.REFUSED]
        results = []
        for runner, case in cases:
            world = fault_matrix.World.make(lab)
            try:
                outcome = runner(world, *case)
            finally:
                world.close()
            results.append(line(outcome.step, outcome.fault, outcome.outcome, outcome.seconds, len(outcome.leaked)))
        return results
    finally:
        lab.stop()


def stuck_cases(pv_disk: Path, work: Path) -> list[bool]:
    results = []
    for operation, step, waited_for in migration_faults.STUCK:
        with migration_lab(pv_disk, work / f"stuck-{operation}") as lab:
            source = lab.pv_instance(f"stuck-{operation.lower()}")
            case = migration_faults.stuck(lab, source, register_lab_worker(lab.lab), operation, step)
            failure: dict[str, Any] = case.report.get("failure", {})
            ok = case.run.rc != 0 and failure.get("step") == step and f"gave up waiting for {waited_for}" in case.message
            outcome = "failed as it should" if ok else f"did not time out in its step: {failure}"
            results.append(line(step, f"{operation} never ready (wait {migration_faults.STUCK_WAIT_SECONDS} s)", outcome,
                                case.seconds, len(case.leaked)))
    return results


def crash_cases(pv_disk: Path, work: Path) -> list[bool]:
    with migration_lab(pv_disk, work / "crash") as lab:
        source = lab.pv_instance("crash-every-step")
        worker = register_lab_worker(lab.lab)
        killed = list(migration_faults.kill_at_every_step(lab, source, worker))
        done = migration_faults.converge(lab, source, worker)
    converged = done.run.rc == 0 and done.report.get("status") == "already-done"
    results = []
    for case in killed:
        outcome = "died there; resumed by the next run" if case.died_as_armed and case.source_unchanged else \
            f"did not die as armed or changed the source: rc {case.rc}, {case.killed}"
        how = f"after {case.crash.api} was made" if case.crash.api else f"at {case.crash.task!r}"
        results.append(line(case.crash.step, f"SIGKILL {case.crash.mode} {how}", outcome, case.seconds, len(done.leaked)))
    outcome = "converged on one completed AMI" if converged else f"did not converge: rc {done.run.rc}, {done.report.get('status')}"
    results.append(line("re-run after the last crash", "none", outcome, done.seconds, len(done.leaked)))
    return results


def direct_cases(pv_disk: Path, work: Path) -> list[bool]:
    """The workerless method: killed half-way through its upload, then a plain re-run; killed in the chroot phase,
    then cleanup.yml given the conversion host."""
    results = []
    with migration_lab(pv_disk, work / "direct") as lab:
        source = lab.pv_instance("direct-upload-crash")
        started = time.monotonic()
        killed = migration_faults.direct_crash(lab, source, migration_faults.DIRECT_UPLOAD_CRASH)
        done = lab.migrate([source], capture="rerun.jsonl", **migration_faults.direct_vars(lab.work))
        report = lab.report(source) if done.rc == 0 else {}
        kept = {report.get("image", {}).get("image_id"), *report.get("image", {}).get("snapshot_ids", [])}
        leaked = [item for item in lab.tagged(f"pv2hvm-{source}") if item not in kept]
        leaked += migration_faults.conversion_host_leftovers(lab, source)
        resumed = report.get("transfer", {}).get("upload", {}).get("resumed")
        outcome = (RESUMED_UPLOAD if killed.rc == -9 and done.rc == 0 and resumed
                   else f"did not die as armed or converge: rc {killed.rc} then {done.rc}")
        results.append(line("upload (ebs_direct)", "SIGKILL tree after 500 PutSnapshotBlock", outcome, round(time.monotonic() - started, 1),
                            len(leaked)))

        source = lab.pv_instance("direct-chroot-crash")
        started = time.monotonic()
        killed = migration_faults.direct_crash(lab, source, migration_faults.DIRECT_CHROOT_CRASH)
        cleaned = migration_faults.cleanup_conversion_host(lab, f"pv2hvm-{source}")
        leaked = lab.tagged(f"pv2hvm-{source}") + migration_faults.conversion_host_leftovers(lab, source)
        outcome = (CLEANED_UP if killed.rc == -9 and cleaned.rc == 0
                   else f"did not die as armed or clean up: rc {killed.rc} then {cleaned.rc}")
        results.append(line("boot_config (ebs_direct)", "SIGKILL tree in the chroot", outcome, round(time.monotonic() - started, 1), len(leaked)))
    return results


def unreachable_cases(pv_disk: Path, work: Path) -> list[bool]:
    """Each on a lab of its own; leaked is what the run's printed clean-up commands (or the re-run) left."""
    results = []
    for scenario in (unreachable_faults.gone_at_stage, unreachable_faults.gone_in_rollback, unreachable_faults.back_in_summary,
                     unreachable_faults.expiring):
        with migration_lab(pv_disk, work / f"unreachable-{scenario.__name__}") as lab:
            case = scenario(lab, lab.pv_instance(scenario.__name__.replace("_", "-")))
            seconds = case.seconds + (case.rerun.seconds if case.rerun else 0)
            results.append(line(case.case, case.fault, unreachable_faults.outcome(case), round(seconds, 1), len(case.leaked)))
    return results


GROUPS = ("api", "stuck", "crash", "direct", "unreachable")


def main(groups: list[str]) -> int:
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        print(f"unknown fault group(s) {', '.join(unknown)}: choose from {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    chosen = groups or list(GROUPS)
    results = api_cases() if "api" in chosen else []
    work = Path(tempfile.mkdtemp(prefix="pv2hvm-faults-", dir="/var/tmp"))
    try:
        pv_disk = build_pv_image().disk
        for group, cases in (("stuck", stuck_cases), ("crash", crash_cases), ("direct", direct_cases), ("unreachable", unreachable_cases)):
            if group in chosen:
                results += cases(pv_disk, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(json.dumps({"cases": len(results), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
