"""When the failure handling itself cannot reach AWS (issue 28): the endpoint gone in the middle of a migration or of
its rollback, or the credentials expired. The run still finishes: the report says the failed step, the cause, what is
left by id and the one command that removes it; the summary runs and terminates a worker the playbook launched once
AWS answers again (or names it as left running); a re-run with fresh credentials converges on one tested AMI.

The cases are tests/lab/unreachable_faults.py's, which `make faults` prints too."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab import unreachable_faults
from tests.lab.unreachable_faults import Unreachable

pytestmark = pytest.mark.root


def cleanup_command(migration: str) -> str:
    return f"ansible-playbook cloudops.pv2hvm.cleanup -e pv2hvm_cleanup_migration_id={migration} -e pv2hvm_cleanup_confirm=true"


def assert_finished_with_what_is_left(case: Unreachable, migration: str) -> None:
    """The run failed, but its report names the step, the cause, what is left by id and the command that removes it;
    the printed commands, run with AWS back, leave nothing."""
    assert case.run.rc != 0
    failure = case.report["failure"]
    assert case.report["status"] == "failed" and failure["step"], failure
    assert failure["rollback"]["cleanup_command"] == cleanup_command(migration)
    left = case.report["resources"]["left"]
    assert left and sorted(left) == case.tagged_after_run, (left, case.tagged_after_run)
    assert cleanup_command(migration) in case.messages and all(item in case.messages for item in left), case.messages
    assert case.cleanups and all(run.rc == 0 for run in case.cleanups), [run.explain() for run in case.cleanups]
    assert case.leaked == [], "the printed commands removed the rest"
    assert unreachable_faults.outcome(case) in (unreachable_faults.FINISHED, unreachable_faults.TERMINATED)


def test_aws_gone_at_the_stage_step_ends_with_the_report_the_summary_and_the_commands_that_finish(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("unreachable")
    case = unreachable_faults.gone_at_stage(migration_lab, source)
    failure = case.report["failure"]
    assert "Could not connect to the endpoint URL" in failure["message"], failure
    assert "AWS did not answer" in failure["message"], "said as what happened: nothing was refused"
    assert "Could not connect" in failure["rollback"]["error"], failure
    assert_finished_with_what_is_left(case, f"pv2hvm-{source}")
    # The summary ran: it could not terminate the launched worker and says so, with the command that does.
    [worker] = case.workers_after_run
    assert worker["State"]["Name"] == "running"
    assert f"The worker {worker['InstanceId']} launched for this run could not be terminated" in case.messages, case.messages
    assert "is left running" in case.messages and "pv2hvm_cleanup_migration_id=pv2hvm-worker-" in case.messages
    assert len(case.cleanups) == 2, "one command for the migration, one for the worker"
    assert [w["State"]["Name"] for w in unreachable_faults.workers(migration_lab)] == ["terminated"]


def test_aws_gone_in_the_middle_of_the_rollback_names_what_it_could_not_remove(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("unreachable-rollback")
    case = unreachable_faults.gone_in_rollback(migration_lab, source)
    failure = case.report["failure"]
    assert "AttachmentLimitExceeded" in failure["message"], "the cause is the step's refusal, not the rollback's"
    assert "Could not connect" in failure["rollback"]["error"], failure
    removed = case.report["resources"].get("deleted", [])
    assert any(item.startswith("vol-") for item in removed), ("the rollback removed the staged volume first", case.report["resources"])
    assert not set(removed) & set(case.report["resources"]["left"]), case.report["resources"]
    assert_finished_with_what_is_left(case, f"pv2hvm-{source}")
    assert unreachable_faults.outcome(case) == unreachable_faults.FINISHED


def test_aws_back_while_the_summary_retries_terminates_the_launched_worker(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("unreachable-then-back")
    case = unreachable_faults.back_in_summary(migration_lab, source)
    assert_finished_with_what_is_left(case, f"pv2hvm-{source}")
    assert "is left running" not in case.messages, case.messages
    assert [w["State"]["Name"] for w in case.workers_after_run] == ["terminated"], "the summary terminated the launched worker"
    assert unreachable_faults.outcome(case) == unreachable_faults.TERMINATED


def test_credentials_expiring_mid_migration_say_renew_and_the_re_run_converges(migration_lab: Any) -> None:
    source = migration_lab.pv_instance("expiring")
    migration = f"pv2hvm-{source}"
    case = unreachable_faults.expiring(migration_lab, source)
    assert case.run.rc != 0
    failure = case.report["failure"]
    assert "ExpiredToken" in failure["message"] and "renew them and run the same command again" in failure["message"], failure
    assert "ExpiredToken" in failure["rollback"]["error"], failure
    assert "renew them and run the same command again" in case.messages and failure["rollback"]["cleanup_command"] in case.messages

    assert case.rerun is not None and case.rerun.run.rc == 0, case.rerun.run.explain() if case.rerun else None
    report = case.rerun.report
    assert report["status"] == "succeeded" and report["completed"].startswith("boot-tested on "), report
    assert case.leaked == [], "0 leaked"
    images = migration_lab.ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:pv2hvm:migration", "Values": [migration]}])["Images"]
    assert len(images) == 1
    assert unreachable_faults.outcome(case) == unreachable_faults.RENEWED
