"""cloudops.pv2hvm.cleanup against the lab EC2 endpoint."""

from __future__ import annotations

import datetime
from typing import Any

from tests.lab.world import backend, launch, launch_worker, own_snapshot_ids, register_pv_image
from tests.lab.world import tagged_resources as tagged

MIGRATION = "mig-0005"


def migrate_partly(module: Any, ec2: Any, migration: str = MIGRATION) -> dict[str, Any]:
    """What a migration leaves in AWS when it stops after its test launch."""
    pv = register_pv_image(ec2, name=f"src-{migration}")
    source = launch(ec2, pv.image_id)
    worker = launch_worker(ec2)
    snaps = module("source_snapshots", instance_id=source, migration_id=migration)
    copy = module("volume", migration_id=migration, purpose="working-copy", snapshot_id=snaps["root_snapshot_id"], instance_id=worker)
    dest = module("volume", migration_id=migration, purpose="destination", size=9, instance_id=worker)
    module("volume", volume_id=dest["volume_id"], state="detached")
    image = module("hvm_image", migration_id=migration, volume_id=dest["volume_id"], name=f"hvm-{migration}", architecture="x86_64",
                   block_device_mappings=snaps["hvm_block_device_mappings"])
    test = module("test_instance", migration_id=migration, image_id=image["image_id"])
    return {"pv": pv, "source": source, "worker": worker, "copy": copy["volume_id"], "dest": dest["volume_id"],
            "image": image["image_id"], "test": test["instance_id"], "snapshots": snaps}


def test_dry_run_lists_everything_and_removes_nothing(ec2: Any, module: Any) -> None:
    made = migrate_partly(module, ec2)
    before = sorted(tagged(ec2, MIGRATION))
    module.forget_requests()
    result = module("cleanup", check_mode=True, migration_id=MIGRATION)
    assert result.changed and result["removed"] == []
    assert sorted(r["id"] for r in result["resources"]) == before
    assert [r["type"] for r in result["resources"]][:1] == ["instance"]
    assert {made["test"], made["copy"], made["dest"], made["image"]} <= {r["id"] for r in result["resources"]}
    assert sorted(tagged(ec2, MIGRATION)) == before
    assert module.operations() <= {"DescribeInstances", "DescribeVolumes", "DescribeImages", "DescribeSnapshots"}


def test_removes_everything_of_the_migration_and_nothing_else(ec2: Any, module: Any) -> None:
    made = migrate_partly(module, ec2)
    other = migrate_partly(module, ec2, migration="mig-other")
    result = module("cleanup", migration_id=MIGRATION)
    assert not result.failed, result
    assert tagged(ec2, MIGRATION) == []
    assert sorted(tagged(ec2, "mig-other")) != []
    assert other["image"] in tagged(ec2, "mig-other")
    # The source is untouched: instance running, its AMI and snapshots in place.
    source = ec2.describe_instances(InstanceIds=[made["source"]])["Reservations"][0]["Instances"][0]
    assert source["State"]["Name"] == "running"
    assert made["pv"].root_snapshot in own_snapshot_ids(ec2)
    assert ec2.describe_images(ImageIds=[made["pv"].image_id])["Images"][0]["State"] == "available"
    again = module("cleanup", migration_id=MIGRATION)
    assert again.changed is False and again["resources"] == []


def test_temporaries_only_keeps_the_image_and_its_snapshots(ec2: Any, module: Any) -> None:
    made = migrate_partly(module, ec2)
    result = module("cleanup", migration_id=MIGRATION, purposes=["working-copy", "destination", "test-instance", "worker"])
    assert not result.failed, result
    left = set(tagged(ec2, MIGRATION))
    image = ec2.describe_images(ImageIds=[made["image"]])["Images"][0]
    image_snapshots = {m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m}
    assert left == {made["image"]} | image_snapshots
    assert made["snapshots"]["root_snapshot_id"] not in own_snapshot_ids(ec2), "the working copy's source snapshot is temporary"


def test_older_than_selects_by_age(ec2: Any, module: Any) -> None:
    made = migrate_partly(module, ec2)
    assert module("cleanup", check_mode=True, older_than_hours=1)["resources"] == []
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
    backend().volumes[made["dest"]].create_time = old
    result = module("cleanup", older_than_hours=2)
    assert [r["id"] for r in result["resources"]] == [made["dest"]]
    assert made["dest"] not in tagged(ec2, MIGRATION)


def test_needs_a_selection(module: Any) -> None:
    result = module("cleanup")
    assert result.failed and "one of the following is required" in result["msg"]
    negative = module("cleanup", older_than_hours=-1)
    assert negative.failed and "0 or more" in negative["msg"]


def test_a_worker_launched_for_the_migration_goes_with_it_unless_left_out(ec2: Any, module: Any) -> None:
    # Tagged as the playbook tags a launched worker: its own migration id, and one key per migration it serves.
    tags = [{"Key": "pv2hvm:migration", "Value": "pv2hvm-worker-0123456789ab"}, {"Key": "pv2hvm:purpose", "Value": "worker"},
            {"Key": f"pv2hvm:worker-for:{MIGRATION}", "Value": "true"}, {"Key": "pv2hvm:worker-for:mig-other", "Value": "true"}]
    image = register_pv_image(ec2, name="worker-image").image_id
    worker = launch(ec2, image, TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    unrelated = launch(ec2, image, TagSpecifications=[{"ResourceType": "instance", "Tags": tags[:2]}])

    listed = module("cleanup", check_mode=True, migration_id=MIGRATION)
    assert [(r["id"], r["purpose"]) for r in listed["resources"]] == [(worker, "worker")]
    kept = module("cleanup", migration_id=MIGRATION, purposes=["working-copy", "destination", "data-copy", "image", "test-instance"])
    assert kept.changed is False and kept["resources"] == []

    removed = module("cleanup", migration_id=MIGRATION)
    assert removed["removed"] == [worker]
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=[worker, unrelated])["Reservations"]
              for i in r["Instances"]}
    assert states == {worker: "terminated", unrelated: "running"}
    assert module("cleanup", migration_id="mig-other")["resources"] == [], "a terminated worker is not found again"


UNREACHABLE = "http://127.0.0.1:9"  # nothing listens: the connection is refused


def test_a_dry_run_that_cannot_reach_ec2_says_nothing_was_removed(module: Any) -> None:
    offline = module.with_env({"AWS_ENDPOINT_URL": UNREACHABLE})
    result = offline("cleanup", check_mode=True, migration_id=MIGRATION, endpoint_url=UNREACHABLE)
    assert result.failed and result["removed"] == []
    assert result["msg"].startswith("The cleanup's dry run stopped, nothing was removed: EC2 could not be reached"), result["msg"]
    assert "removing" not in result["msg"] and "refused" not in result["msg"].split(":")[0], result["msg"]


def test_a_cleanup_that_cannot_reach_ec2_says_so_and_to_run_it_again(module: Any) -> None:
    offline = module.with_env({"AWS_ENDPOINT_URL": UNREACHABLE})
    result = offline("cleanup", migration_id=MIGRATION, endpoint_url=UNREACHABLE)
    assert result.failed
    assert result["msg"].startswith("Cleanup stopped after removing 0 resource(s): EC2 could not be reached; run it again to finish"), result["msg"]
