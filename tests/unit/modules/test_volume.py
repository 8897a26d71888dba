"""cloudops.pv2hvm.volume against the lab EC2 endpoint."""

from __future__ import annotations

from typing import Any

from tests.lab.world import WORKER_AZ, launch_worker, register_pv_image, snapshot_of_new_volume, volumes_tagged

MIGRATION = "mig-0001"


def stage(module: Any, **args: Any) -> Any:
    return module("volume", migration_id=MIGRATION, **args)


def test_working_copy_from_snapshot_attached_to_worker(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    worker = launch_worker(ec2)
    result = stage(module, purpose="working-copy", snapshot_id=image.root_snapshot, instance_id=worker)
    assert not result.failed, result
    assert result.changed
    assert (result["device_name"], result["attachment_state"]) == ("/dev/sdf", "attached")
    volume = ec2.describe_volumes(VolumeIds=[result["volume_id"]])["Volumes"][0]
    assert (volume["SnapshotId"], volume["Size"], volume["VolumeType"], volume["AvailabilityZone"]) == (image.root_snapshot, 8, "gp3", WORKER_AZ)
    assert volume["Attachments"][0]["InstanceId"] == worker
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["pv2hvm:migration"] == MIGRATION and tags["pv2hvm:purpose"] == "working-copy"
    assert result["volume"]["tags"] == tags


def test_second_run_finds_the_same_volume(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    worker = launch_worker(ec2)
    first = stage(module, purpose="working-copy", snapshot_id=image.root_snapshot, instance_id=worker)
    module.forget_requests()
    second = stage(module, purpose="working-copy", snapshot_id=image.root_snapshot, instance_id=worker)
    assert second.changed is False
    assert (second["volume_id"], second["device_name"]) == (first["volume_id"], first["device_name"])
    assert module.operations() <= {"DescribeVolumes", "DescribeInstances", "DescribeSnapshots"}
    assert len(volumes_tagged(ec2, MIGRATION)) == 1


def test_check_mode_creates_nothing(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    worker = launch_worker(ec2)
    before = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    result = stage(module, check_mode=True, purpose="working-copy", snapshot_id=image.root_snapshot, instance_id=worker)
    assert result.changed and not result.failed
    assert "would create a 8 GiB gp3 volume in us-east-1a" in result["msg"]
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == before
    assert not module.requests("CreateVolume") and not module.requests("AttachVolume")


def test_check_mode_detach_and_delete_change_nothing(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    created = stage(module, purpose="destination", size=10, instance_id=worker)
    for state in ("detached", "absent"):
        result = stage(module, check_mode=True, purpose="destination", state=state)
        assert result.changed and not result.failed
    volume = ec2.describe_volumes(VolumeIds=[created["volume_id"]])["Volumes"][0]
    assert volume["State"] == "in-use"


def test_empty_destination_with_options(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    result = stage(module, purpose="destination", size=12, volume_type="gp3", iops=4000, throughput=250,
                   tags={"Owner": "ops", "pv2hvm:purpose": "spoofed"}, instance_id=worker)
    assert not result.failed, result
    request = module.requests("CreateVolume")[0]
    assert (request["Size"], request["VolumeType"], request["Iops"], request["Throughput"]) == (12, "gp3", 4000, 250)
    assert "SnapshotId" not in request
    tags = {t["Key"]: t["Value"] for t in request["TagSpecifications"][0]["Tags"]}
    assert tags == {"Owner": "ops", "pv2hvm:migration": MIGRATION, "pv2hvm:purpose": "destination", "Name": f"pv2hvm {MIGRATION} destination"}


def test_larger_than_snapshot_is_allowed(ec2: Any, module: Any) -> None:
    snapshot = snapshot_of_new_volume(ec2, size=8)
    result = stage(module, purpose="working-copy", snapshot_id=snapshot, size=20, availability_zone=WORKER_AZ)
    assert not result.failed, result
    assert result["volume"]["size"] == 20
    assert result["attachment_state"] == "detached"


def test_undersized_volume_is_refused_before_anything_is_created(ec2: Any, module: Any) -> None:
    snapshot = snapshot_of_new_volume(ec2, size=8)
    result = stage(module, purpose="working-copy", snapshot_id=snapshot, size=4, availability_zone=WORKER_AZ)
    assert result.failed
    assert "smaller than snapshot" in result["msg"] and "at least 8" in result["msg"]
    assert not module.requests("CreateVolume")
    assert volumes_tagged(ec2, MIGRATION) == []


def test_encryption_and_key_default_to_the_snapshot(ec2: Any, module: Any) -> None:
    snapshot = snapshot_of_new_volume(ec2, size=8, encrypted=True)
    key = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["KmsKeyId"]
    result = stage(module, purpose="working-copy", snapshot_id=snapshot, availability_zone=WORKER_AZ)
    request = module.requests("CreateVolume")[0]
    assert (request["Encrypted"], request["KmsKeyId"]) == (True, key)
    assert result["volume"]["encrypted"] is True


def test_explicit_device_name(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    result = stage(module, purpose="destination", size=10, instance_id=worker, device_name="/dev/sdk")
    assert result["device_name"] == "/dev/sdk"


def test_taken_slots_are_skipped(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    other = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=other, InstanceId=worker, Device="/dev/sdf")
    result = stage(module, purpose="destination", size=10, instance_id=worker)
    assert result["device_name"] == "/dev/sdg"


def test_zone_other_than_the_workers_is_refused(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    result = stage(module, purpose="destination", size=10, instance_id=worker, availability_zone="us-east-1b")
    assert result.failed
    assert "Stage the copy in the worker's AZ: availability_zone: us-east-1a" in result["msg"]
    assert volumes_tagged(ec2, MIGRATION) == []


def test_existing_volume_in_another_zone_is_not_attached(ec2: Any, module: Any) -> None:
    snapshot = snapshot_of_new_volume(ec2)
    staged = stage(module, purpose="working-copy", snapshot_id=snapshot, availability_zone="us-east-1b")
    worker = launch_worker(ec2)
    result = stage(module, purpose="working-copy", snapshot_id=snapshot, instance_id=worker)
    assert result.failed
    assert "us-east-1b" in result["msg"] and "worker's AZ" in result["msg"]
    assert ec2.describe_volumes(VolumeIds=[staged["volume_id"]])["Volumes"][0]["State"] == "available"


def test_volume_attached_to_another_instance_is_not_stolen(ec2: Any, module: Any) -> None:
    worker, other = launch_worker(ec2), launch_worker(ec2)
    stage(module, purpose="destination", size=10, instance_id=other)
    result = stage(module, purpose="destination", size=10, instance_id=worker)
    assert result.failed and "is attached to" in result["msg"]


def test_detached_then_idempotent(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    created = stage(module, purpose="destination", size=10, instance_id=worker)
    detached = stage(module, purpose="destination", state="detached")
    assert detached.changed and detached["attachment_state"] == "detached"
    assert ec2.describe_volumes(VolumeIds=[created["volume_id"]])["Volumes"][0]["State"] == "available"
    again = stage(module, purpose="destination", state="detached")
    assert again.changed is False


def test_absent_detaches_deletes_and_is_idempotent(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    stage(module, purpose="destination", size=10, instance_id=worker)
    gone = stage(module, purpose="destination", state="absent")
    assert gone.changed and gone["volume_id"] == ""
    assert module.requests("DetachVolume") and module.requests("DeleteVolume")
    assert volumes_tagged(ec2, MIGRATION) == []
    again = stage(module, purpose="destination", state="absent")
    assert again.changed is False


def test_untagged_volume_is_not_deleted_without_force(ec2: Any, module: Any) -> None:
    foreign = ec2.create_volume(Size=5, AvailabilityZone=WORKER_AZ)["VolumeId"]
    refused = module("volume", volume_id=foreign, state="absent")
    assert refused.failed and "force: true" in refused["msg"]
    assert ec2.describe_volumes(VolumeIds=[foreign])["Volumes"][0]["State"] == "available"
    forced = module("volume", volume_id=foreign, state="absent", force=True)
    assert forced.changed and not forced.failed
    assert not ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [foreign]}])["Volumes"]


def test_source_root_volume_is_never_deleted(ec2: Any, module: Any) -> None:
    """The source instance's own root volume is untagged: state absent refuses it."""
    from tests.lab.world import launch  # pylint: disable=import-outside-toplevel

    source = launch(ec2, register_pv_image(ec2).image_id)
    root = ec2.describe_instances(InstanceIds=[source])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    result = module("volume", volume_id=root, state="absent")
    assert result.failed
    assert not module.requests("DetachVolume") and not module.requests("DeleteVolume")
    assert ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]["State"] == "in-use"


def test_unknown_ids_and_missing_inputs(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    no_snapshot = stage(module, purpose="working-copy", snapshot_id="snap-0123456789abcdef0", instance_id=worker)
    assert no_snapshot.failed and "snap-0123456789abcdef0 does not exist" in no_snapshot["msg"]
    no_size = stage(module, purpose="destination", instance_id=worker)
    assert no_size.failed and "needs a size" in no_size["msg"]
    no_worker = stage(module, purpose="destination", size=5, instance_id="i-0123456789abcdef0")
    assert no_worker.failed and "i-0123456789abcdef0 was not found" in no_worker["msg"]
    no_zone = stage(module, purpose="destination", size=5)
    assert no_zone.failed and "availability_zone" in no_zone["msg"]
    no_key = module("volume", size=5, availability_zone=WORKER_AZ)
    assert no_key.failed and "volume_id, or migration_id and purpose" in no_key["msg"]
    bad_size = stage(module, purpose="destination", size=0, availability_zone=WORKER_AZ)
    assert bad_size.failed and "positive" in bad_size["msg"]
    assert not module.requests("CreateVolume")


def test_two_volumes_with_one_key_are_reported(ec2: Any, module: Any) -> None:
    for _index in range(2):
        ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ, TagSpecifications=[{"ResourceType": "volume", "Tags": [
            {"Key": "pv2hvm:migration", "Value": MIGRATION}, {"Key": "pv2hvm:purpose", "Value": "destination"}]}])
    result = stage(module, purpose="destination", size=1, availability_zone=WORKER_AZ)
    assert result.failed and "has 2 destination volumes" in result["msg"]


def test_existing_volume_from_another_snapshot_is_reported(ec2: Any, module: Any) -> None:
    first, second = snapshot_of_new_volume(ec2), snapshot_of_new_volume(ec2)
    stage(module, purpose="working-copy", snapshot_id=first, availability_zone=WORKER_AZ)
    result = stage(module, purpose="working-copy", snapshot_id=second, availability_zone=WORKER_AZ)
    assert result.failed and f"created from {first}, not {second}" in result["msg"]


def test_each_data_volume_gets_its_own_copy_found_again_by_its_source_device(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)
    first, second = snapshot_of_new_volume(ec2, size=4), snapshot_of_new_volume(ec2, size=2)
    sdf = stage(module, purpose="data-copy", source_device_name="/dev/sdf", snapshot_id=first, instance_id=worker)
    sdg = stage(module, purpose="data-copy", source_device_name="/dev/sdg", snapshot_id=second, instance_id=worker)
    assert not sdf.failed and not sdg.failed, (sdf, sdg)
    assert sdf.changed and sdg.changed and sdf["volume_id"] != sdg["volume_id"]
    assert {sdf["device_name"], sdg["device_name"]} == {"/dev/sdf", "/dev/sdg"}, "two free slots of the worker"
    tags = sdg["volume"]["tags"]
    assert (tags["pv2hvm:purpose"], tags["pv2hvm:source-device"], tags["Name"]) == ("data-copy", "/dev/sdg", f"pv2hvm {MIGRATION} data-copy /dev/sdg")
    again = stage(module, purpose="data-copy", source_device_name="/dev/sdf", snapshot_id=first, instance_id=worker)
    assert again.changed is False and again["volume_id"] == sdf["volume_id"]
    gone = stage(module, purpose="data-copy", source_device_name="/dev/sdg", state="absent")
    assert gone.changed and not gone.failed
    assert [v["VolumeId"] for v in volumes_tagged(ec2, MIGRATION)] == [sdf["volume_id"]]


def test_data_copy_and_source_device_name_go_together(ec2: Any, module: Any) -> None:
    snapshot = snapshot_of_new_volume(ec2, size=4)
    before = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    for args in ({"purpose": "data-copy"}, {"purpose": "working-copy", "source_device_name": "/dev/sdf"}):
        result = stage(module, snapshot_id=snapshot, availability_zone=WORKER_AZ, **args)
        assert result.failed and "source_device_name goes with purpose=data-copy" in result["msg"], result
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == before


def test_a_volume_operation_that_cannot_reach_ec2_is_not_called_refused(module: Any) -> None:
    unreachable = "http://127.0.0.1:9"  # nothing listens: EC2 never answers
    offline = module.with_env({"AWS_ENDPOINT_URL": unreachable})
    result = offline("volume", migration_id="mig-offline", purpose="destination", size=2, endpoint_url=unreachable,
                     availability_zone="us-east-1a")
    assert result.failed
    assert result["msg"].startswith("EC2 could not be reached for a volume operation (state present)"), result["msg"]
    assert "refused a volume operation" not in result["msg"], result["msg"]
