"""AWS out of reach while a migration fails (issue 28), run through the playbook in a migration lab.

- gone at the stage step: the lab endpoint stops answering once the source's snapshot exists, and stays gone
  through the rollback and the summary (which retries terminating the worker it launched, then names it);
- gone in the rollback: the stage step is refused, and the endpoint goes once the rollback removed one resource;
- back in the summary: gone at the stage step, back while the summary retries: the launched worker is terminated;
- credentials expiring: every call refused with ExpiredToken from the source's snapshot on; a re-run converges.

Each case ends by running the clean-up commands the run printed, with AWS back: what they leave is `leaked`.
tests/integration/migration/test_unreachable.py asserts on what these return; `make faults` prints a line each.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.lab.endpoint import LAB_REGION
from tests.lab.migration import MigrationLab
from tests.lab.migration_faults import Converged, converge
from tests.lab.world import register_lab_worker, register_lab_worker_image
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import PlaybookRun, run_playbook

CLEANUP_COMMAND = re.compile(r"ansible-playbook cloudops\.pv2hvm\.cleanup -e pv2hvm_cleanup_migration_id=(\S+) -e pv2hvm_cleanup_confirm=true")

# What a migration calls after its source snapshot, and its rollback and summary: refused as expired from then on.
EC2_CALLS = ("DescribeSnapshots", "DescribeVolumes", "CreateVolume", "AttachVolume", "DescribeInstances", "DescribeImages",
             "CreateTags", "DeleteSnapshot", "DeleteVolume", "TerminateInstances", "DescribeTags", "CreateSnapshot")
EXPIRED = "The security token included in the request is expired"
# The stage step refused (an instance at its attachment limit) after its volume was made: the rollback has two resources.
STAGE_REFUSAL = ("AttachVolume", "AttachmentLimitExceeded")


@dataclass
class Unreachable:
    case: str
    fault: str
    run: PlaybookRun
    seconds: float
    report: dict[str, Any]
    messages: str  # every failed task's message, in one string
    tagged_after_run: list[str]  # the migration's resources the run left (AWS back)
    workers_after_run: list[dict[str, Any]]  # the workers this run launched, as the summary left them
    cleanups: list[PlaybookRun] = field(default_factory=list)  # the printed clean-up commands, run with AWS back
    leaked: list[str] = field(default_factory=list)  # what those left: the migration's and the workers' resources
    rerun: Converged | None = None


def launched_worker_vars(lab: MigrationLab) -> dict[str, Any]:
    return {"pv2hvm_worker_launch": {"image_id": register_lab_worker_image(lab.lab), "instance_type": "t3.small"},
            "pv2hvm_worker_instance_id": ""}


def workers(lab: MigrationLab) -> list[dict[str, Any]]:
    return [instance for reservation in lab.ec2.describe_instances(
        Filters=[{"Name": "tag:pv2hvm:purpose", "Values": ["worker"]}])["Reservations"] for instance in reservation["Instances"]]


def run_printed_cleanups(lab: MigrationLab, source: str, case: Unreachable) -> None:
    """Each clean-up command the run printed, as printed, with the lab's endpoint and region; then what is left."""
    migrations = list(dict.fromkeys(CLEANUP_COMMAND.findall(case.messages)))
    for migration in migrations:
        case.cleanups.append(run_playbook(REPO_ROOT / "playbooks" / "cleanup.yml",
                                          {"pv2hvm_aws_endpoint_url": lab.lab.url, "pv2hvm_aws_region": LAB_REGION,
                                           "pv2hvm_cleanup_migration_id": migration, "pv2hvm_cleanup_confirm": True},
                                          env=lab.lab.env()))
    case.leaked = [item for migration in {*migrations, f"pv2hvm-{source}"} for item in lab.tagged(migration)]
    case.leaked += [w["InstanceId"] for w in workers(lab) if w["State"]["Name"] not in ("terminated", "shutting-down")]
    case.leaked += [f"loop device {loop}" for loop in lab.lab.ebs.loops]


def _finish(lab: MigrationLab, source: str, case_name: str, fault: str, run: PlaybookRun, started: float) -> Unreachable:
    seconds = round(time.monotonic() - started, 1)
    report_file = lab.work / "reports" / f"pv2hvm-{source}.json"
    report = lab.report(source) if report_file.exists() else {}
    case = Unreachable(case_name, fault, run, seconds, report, " ".join(run.failures()), sorted(lab.tagged(f"pv2hvm-{source}")),
                       workers(lab))
    run_printed_cleanups(lab, source, case)
    return case


def gone_at_stage(lab: MigrationLab, source: str) -> Unreachable:
    """Gone once the source's snapshot exists; the summary tries the launched worker once and names it."""
    worker_vars = launched_worker_vars(lab)
    lab.lab.faults.after("CreateSnapshot", lab.lab.go_down)
    started = time.monotonic()
    try:
        run = lab.migrate([source], pv2hvm_worker_terminate_retries=1, **worker_vars)
    finally:
        lab.lab.come_back()
        lab.lab.faults.clear()
    return _finish(lab, source, "stage", "endpoint gone after CreateSnapshot, through the summary", run, started)


def gone_in_rollback(lab: MigrationLab, source: str) -> Unreachable:
    """The stage step refused; the endpoint goes once the rollback has removed the staged volume."""
    worker = register_lab_worker(lab.lab)
    operation, code = STAGE_REFUSAL
    lab.lab.faults.inject(operation, code, message="The instance has reached its volume attachment limit")
    lab.lab.faults.after("DeleteVolume", lab.lab.go_down)
    started = time.monotonic()
    try:
        run = lab.migrate([source], pv2hvm_worker_instance_id=worker)
    finally:
        lab.lab.come_back()
        lab.lab.faults.clear()
    return _finish(lab, source, "rollback", f"{operation} refused ({code}), endpoint gone after the rollback's DeleteVolume",
                   run, started)


def back_in_summary(lab: MigrationLab, source: str) -> Unreachable:
    """Gone at the stage step; back a few seconds after the report is written, while the summary retries."""
    report_file = lab.work / "reports" / f"pv2hvm-{source}.json"

    def come_back_after_the_report() -> None:
        deadline = time.monotonic() + 600
        while not report_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        lab.lab.come_back()

    worker_vars = launched_worker_vars(lab)
    lab.lab.faults.after("CreateSnapshot", lab.lab.go_down)
    back = threading.Thread(target=come_back_after_the_report, daemon=True)
    back.start()
    started = time.monotonic()
    try:
        run = lab.migrate([source], pv2hvm_worker_terminate_retries=60, **worker_vars)
    finally:
        back.join(timeout=700)
        lab.lab.come_back()
        lab.lab.faults.clear()
    return _finish(lab, source, "summary", "endpoint gone after CreateSnapshot, back during the summary", run, started)


def expiring(lab: MigrationLab, source: str) -> Unreachable:
    """ExpiredToken on every call from the source's snapshot on; then the same command with fresh credentials."""
    worker = register_lab_worker(lab.lab)

    def expire() -> None:
        for operation in EC2_CALLS:
            lab.lab.faults.inject(operation, "ExpiredToken", times=10_000, message=EXPIRED)

    lab.lab.faults.after("CreateSnapshot", expire)
    started = time.monotonic()
    try:
        run = lab.migrate([source], pv2hvm_worker_instance_id=worker)
    finally:
        lab.lab.faults.clear()
    seconds = round(time.monotonic() - started, 1)
    case = Unreachable("expired credentials", "ExpiredToken from CreateSnapshot on, then a re-run", run, seconds,
                       lab.report(source), " ".join(run.failures()), sorted(lab.tagged(f"pv2hvm-{source}")), workers(lab))
    case.rerun = converge(lab, source, worker)
    case.leaked = list(case.rerun.leaked)
    return case


def outcome(case: Unreachable) -> str:
    """The `make faults` outcome: what the case must show, or what it did not."""
    failure = case.report.get("failure", {})
    finished = (case.run.rc != 0 and case.report.get("status") == "failed" and failure.get("rollback", {}).get("cleanup_command")
                and case.report.get("resources", {}).get("left") and all(c.rc == 0 for c in case.cleanups) and case.cleanups)
    if case.case == "expired credentials":
        converged = case.rerun is not None and case.rerun.run.rc == 0 and case.rerun.report.get("status") == "succeeded"
        said = "renew them and run the same command again" in case.messages
        return RENEWED if said and converged else f"did not say renew or converge: {failure.get('message', '')[:200]}"
    if case.case == "summary":
        terminated = [w["State"]["Name"] for w in case.workers_after_run] == ["terminated"]
        return TERMINATED if finished and terminated else f"the summary did not terminate the worker: {case.workers_after_run}"
    return FINISHED if finished else f"no report, summary or command: rc {case.run.rc}, {failure}"


FINISHED = "report, summary and clean-up command written; the commands removed the rest"
TERMINATED = "report written; the summary terminated the launched worker once AWS was back"
RENEWED = "said renew and re-run; the re-run converged on one tested AMI"
