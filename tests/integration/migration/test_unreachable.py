"""When the failure handling itself cannot reach AWS (issue 28): the endpoint gone in the middle of a migration, or
the credentials expired. The run still finishes: the report says the failed step, the cause, what is left by id and
the one command that removes it; the summary runs and terminates a worker the playbook launched once AWS answers
again (or names it as left running); a re-run with fresh credentials converges on one tested AMI."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lab.endpoint import LAB_REGION
from tests.lab.world import register_lab_worker, register_lab_worker_image
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import run_playbook

pytestmark = pytest.mark.root

# What a migration calls after its source snapshot, and its rollback and summary: refused as expired from then on.
EC2_CALLS = ("DescribeSnapshots", "DescribeVolumes", "CreateVolume", "AttachVolume", "DescribeInstances", "DescribeImages",
             "CreateTags", "DeleteSnapshot", "DeleteVolume", "TerminateInstances", "DescribeTags", "CreateSnapshot")


def launched_worker_vars(lab: Any) -> dict[str, Any]:
    return {"pv2hvm_worker_launch": {"image_id": register_lab_worker_image(lab), "instance_type": "t3.small"},
            "pv2hvm_worker_instance_id": ""}


def cleanup(lab: Any, migration_id: str) -> Any:
    return run_playbook(REPO_ROOT / "playbooks" / "cleanup.yml",
                        {"pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION,
                         "pv2hvm_cleanup_migration_id": migration_id, "pv2hvm_cleanup_confirm": True}, env=lab.env())


def workers(migration_lab: Any) -> list[dict[str, Any]]:
    return [instance for reservation in migration_lab.ec2.describe_instances(
        Filters=[{"Name": "tag:pv2hvm:purpose", "Values": ["worker"]}])["Reservations"] for instance in reservation["Instances"]]


def test_aws_gone_at_the_stage_step_ends_with_the_report_the_summary_and_the_commands_that_finish(migration_lab: Any) -> None:
    lab = migration_lab.lab
    source = migration_lab.pv_instance("unreachable")
    migration = f"pv2hvm-{source}"
    worker_vars = launched_worker_vars(lab)
    lab.faults.after("CreateSnapshot", lab.go_down)  # the source's snapshot exists; nothing answers from then on
    try:
        run = migration_lab.migrate([source], pv2hvm_worker_terminate_retries=1, **worker_vars)
    finally:
        lab.come_back()
    assert run.rc != 0
    report = migration_lab.report(source)
    failure = report["failure"]
    assert report["status"] == "failed" and failure["step"] and "Could not connect to the endpoint URL" in failure["message"], failure
    assert "AWS did not answer" in failure["message"], "said as what happened: nothing was refused"
    assert "Could not connect" in failure["rollback"]["error"], failure
    command = f"ansible-playbook cloudops.pv2hvm.cleanup -e pv2hvm_cleanup_migration_id={migration} -e pv2hvm_cleanup_confirm=true"
    assert failure["rollback"]["cleanup_command"] == command
    left = report["resources"]["left"]
    assert left and all(item in migration_lab.tagged(migration) for item in left), (left, migration_lab.tagged(migration))
    messages = " ".join(run.failures())
    assert command in messages and all(item in messages for item in left), messages
    # The summary ran: it could not terminate the launched worker and says so, with the command that does.
    [worker] = workers(migration_lab)
    assert worker["State"]["Name"] == "running"
    assert f"The worker {worker['InstanceId']} launched for this run could not be terminated" in messages, messages
    assert "is left running" in messages and "pv2hvm_cleanup_migration_id=pv2hvm-worker-" in messages, messages

    # Once AWS answers, the two commands the run printed leave nothing.
    assert cleanup(lab, migration).rc == 0
    worker_migration = next(tag["Value"] for tag in worker["Tags"] if tag["Key"] == "pv2hvm:migration")
    assert cleanup(lab, worker_migration).rc == 0
    assert migration_lab.tagged(migration) == []
    assert [w["State"]["Name"] for w in workers(migration_lab)] == ["terminated"]
    assert lab.ebs.loops == {}


def test_aws_back_while_the_summary_retries_terminates_the_launched_worker(migration_lab: Any) -> None:
    lab = migration_lab.lab
    source = migration_lab.pv_instance("unreachable-then-back")
    report_file = migration_lab.work / "reports" / f"pv2hvm-{source}.json"

    def come_back_after_the_report() -> None:
        # The rollback has written its report (AWS still gone): the summary, which comes next, finds AWS back.
        deadline = time.monotonic() + 600
        while not report_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        lab.come_back()

    worker_vars = launched_worker_vars(lab)
    lab.faults.after("CreateSnapshot", lab.go_down)
    back = threading.Thread(target=come_back_after_the_report, daemon=True)
    back.start()
    try:
        run = migration_lab.migrate([source], pv2hvm_worker_terminate_retries=60, **worker_vars)
    finally:
        back.join(timeout=700)
        lab.come_back()
    assert run.rc != 0
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["failure"]["rollback"]["cleanup_command"], report["failure"]
    messages = " ".join(run.failures())
    assert "is left running" not in messages, messages
    assert [w["State"]["Name"] for w in workers(migration_lab)] == ["terminated"], "the summary terminated the launched worker"


def test_credentials_expiring_mid_migration_say_renew_and_the_re_run_converges(migration_lab: Any) -> None:
    lab = migration_lab.lab
    source = migration_lab.pv_instance("expiring")
    migration = f"pv2hvm-{source}"
    worker = register_lab_worker(lab)

    def expire() -> None:
        for operation in EC2_CALLS:
            lab.faults.inject(operation, "ExpiredToken", times=10_000, message="The security token included in the request is expired")

    lab.faults.after("CreateSnapshot", expire)
    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=worker)
    lab.faults.clear()
    assert run.rc != 0
    report = migration_lab.report(source)
    failure = report["failure"]
    assert "ExpiredToken" in failure["message"] and "renew them and run the same command again" in failure["message"], failure
    assert "ExpiredToken" in failure["rollback"]["error"], failure
    messages = " ".join(run.failures())
    assert "renew them and run the same command again" in messages and failure["rollback"]["cleanup_command"] in messages, messages

    again = migration_lab.migrate([source], capture="rerun.jsonl", pv2hvm_worker_instance_id=worker)
    assert again.rc == 0, again.explain()
    report = migration_lab.report(source)
    assert report["status"] == "succeeded" and report["completed"].startswith("boot-tested on "), report
    kept = {report["image"]["image_id"], *report["image"]["snapshot_ids"]}
    assert sorted(set(migration_lab.tagged(migration)) - kept) == [], "0 leaked"
    images = migration_lab.ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:pv2hvm:migration", "Values": [migration]}])["Images"]
    assert len(images) == 1
    assert Path(migration_lab.work / "reports" / f"{migration}.json").exists()
