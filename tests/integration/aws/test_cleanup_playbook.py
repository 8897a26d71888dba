"""playbooks/cleanup.yml lists first, removes only with confirmation, and only what is tagged."""

from __future__ import annotations

from typing import Any

from tests.lab.endpoint import LAB_REGION
from tests.lab.world import launch, launch_worker, register_pv_image, tagged_resources
from tests.support.modules import REPO_ROOT, run_module
from tests.support.playbooks import run_playbook

PLAYBOOK = REPO_ROOT / "playbooks" / "cleanup.yml"
MIGRATION = "pv2hvm-i-0cleanup00000000"


def leave_a_half_finished_migration(lab: Any) -> list[str]:
    ec2 = lab.client()
    source = launch(ec2, register_pv_image(ec2).image_id)
    worker = launch_worker(ec2)
    aws = lab.module_params()
    snaps = run_module("source_snapshots", dict(aws, instance_id=source, migration_id=MIGRATION), env=lab.env())
    run_module("volume", dict(aws, migration_id=MIGRATION, purpose="working-copy", snapshot_id=snaps["root_snapshot_id"], instance_id=worker),
               env=lab.env())
    run_module("volume", dict(aws, migration_id=MIGRATION, purpose="destination", size=8, instance_id=worker), env=lab.env())
    return tagged_resources(ec2, MIGRATION)


def cleanup(lab: Any, **extra: Any) -> Any:
    return run_playbook(PLAYBOOK, {"pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION, **extra}, env=lab.env())


def test_dry_run_lists_then_confirm_removes(lab: Any, ec2: Any) -> None:
    left = leave_a_half_finished_migration(lab)
    assert len(left) == 4  # two snapshots (root, data) and two volumes
    dry = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION)
    assert dry.rc == 0, dry.explain()
    listed = dry.task_results("Show them")[0]["msg"]
    assert sorted(line.split()[1] for line in listed) == sorted(left)
    assert "Dry run: nothing was removed" in dry.task_results("Say what happened")[0]["msg"]
    assert sorted(tagged_resources(ec2, MIGRATION)) == sorted(left)

    confirmed = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION, pv2hvm_cleanup_confirm=True)
    assert confirmed.rc == 0, confirmed.explain()
    assert tagged_resources(ec2, MIGRATION) == []
    assert "Removed 4 resource(s)." in confirmed.task_results("Say what happened")[0]["msg"]


def test_older_than_and_bad_input(lab: Any, ec2: Any) -> None:
    left = leave_a_half_finished_migration(lab)
    recent = cleanup(lab, pv2hvm_cleanup_older_than_hours=1, pv2hvm_cleanup_confirm=True)
    assert recent.rc == 0, recent.explain()
    assert sorted(tagged_resources(ec2, MIGRATION)) == sorted(left), "nothing is older than an hour"
    for bad in ({}, {"pv2hvm_cleanup_migration_id": MIGRATION, "pv2hvm_cleanup_older_than_hours": 2}):
        refused = cleanup(lab, **bad)
        assert refused.rc != 0
        assert any("Say what to clean up" in failure for failure in refused.failures()), refused.explain()
    assert sorted(tagged_resources(ec2, MIGRATION)) == sorted(left)


def finish_the_migration(lab: Any, ec2: Any, completed: bool) -> tuple[str, str]:
    """Register the half-finished migration's destination as its AMI (its root snapshot is new), marked
    completed as a run does after the boot test, or not, as a run that died before the test leaves it."""
    destination = next(v["VolumeId"] for v in ec2.describe_volumes(Filters=[
        {"Name": "tag:pv2hvm:migration", "Values": [MIGRATION]}, {"Name": "tag:pv2hvm:purpose", "Values": ["destination"]}])["Volumes"])
    image = run_module("hvm_image", dict(lab.module_params(), migration_id=MIGRATION, volume_id=destination,
                                         name=f"{MIGRATION}-hvm", architecture="x86_64"), env=lab.env())
    assert not image.failed, image
    if completed:
        ec2.create_tags(Resources=[image["image_id"]], Tags=[{"Key": "pv2hvm:completed", "Value": "boot-tested on i-0test t3.micro 2026-12-03T10:00:00Z"}])
    return image["image_id"], image["snapshot_id"]


def test_a_completed_ami_is_kept_unless_asked_and_the_dry_run_says_why(lab: Any, ec2: Any) -> None:
    temporaries = leave_a_half_finished_migration(lab)
    image_id, snapshot_id = finish_the_migration(lab, ec2, completed=True)

    dry = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION)
    assert dry.rc == 0, dry.explain()
    assert sorted(line.split()[1] for line in dry.task_results("Show them")[0]["msg"]) == sorted(temporaries)
    kept = dry.task_results("Show what is kept, and why")[0]["msg"]
    assert kept == [f"{image_id}: completed migration {MIGRATION} (boot-tested on i-0test t3.micro 2026-12-03T10:00:00Z); "
                    "set keep_completed: false to remove it",
                    f"{snapshot_id}: used by AMI {image_id}, which is kept"]

    confirmed = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION, pv2hvm_cleanup_confirm=True)
    assert confirmed.rc == 0, confirmed.explain()
    assert sorted(tagged_resources(ec2, MIGRATION)) == sorted([image_id, snapshot_id]), "the finished AMI and its snapshot stay"
    again = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION, pv2hvm_cleanup_confirm=True)
    assert again.rc == 0 and not again.task_results("Remove them")[0]["changed"], "nothing left to remove: changed=false"

    undo = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION, pv2hvm_cleanup_confirm=True, pv2hvm_cleanup_keep_completed=False)
    assert undo.rc == 0, undo.explain()
    assert tagged_resources(ec2, MIGRATION) == []


def test_an_ami_that_was_never_completed_goes_with_the_temporaries(lab: Any, ec2: Any) -> None:
    temporaries = leave_a_half_finished_migration(lab)
    image_id, snapshot_id = finish_the_migration(lab, ec2, completed=False)
    confirmed = cleanup(lab, pv2hvm_cleanup_migration_id=MIGRATION, pv2hvm_cleanup_confirm=True)
    assert confirmed.rc == 0, confirmed.explain()
    assert f"Removed {len(temporaries) + 2} resource(s)." in confirmed.task_results("Say what happened")[0]["msg"]
    assert image_id not in {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert tagged_resources(ec2, MIGRATION) == [] and snapshot_id not in str(ec2.describe_snapshots(OwnerIds=["self"]))
