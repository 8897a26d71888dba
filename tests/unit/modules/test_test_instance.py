"""cloudops.pv2hvm.test_instance against the lab EC2 endpoint."""

from __future__ import annotations

from typing import Any

from tests.lab.world import register_pv_image, snapshot_of_new_volume

MIGRATION = "mig-0004"


def hvm_image(ec2: Any) -> str:
    root = snapshot_of_new_volume(ec2)
    return ec2.register_image(Name="web-hvm", Architecture="x86_64", VirtualizationType="hvm", RootDeviceName="/dev/xvda",
                              BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}])["ImageId"]


def test_launch_waits_for_checks_and_reads_the_console(ec2: Any, module: Any) -> None:
    image = hvm_image(ec2)
    result = module("test_instance", migration_id=MIGRATION, image_id=image, instance_type="t2.micro")
    assert not result.failed, result
    assert result.changed and result["status_checks"] == {"instance": "ok", "system": "ok"}
    assert isinstance(result["console_output"], str) and result["console_output"]
    [request] = module.requests("RunInstances")
    assert (request["ImageId"], request["InstanceType"]) == (image, "t2.micro")
    assert module.requests("DescribeInstanceStatus") and module.requests("GetConsoleOutput")
    described = ec2.describe_instances(InstanceIds=[result["instance_id"]])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert (tags["pv2hvm:migration"], tags["pv2hvm:purpose"]) == (MIGRATION, "test-instance")


def test_rerun_finds_the_same_instance_then_absent_terminates(ec2: Any, module: Any) -> None:
    image = hvm_image(ec2)
    first = module("test_instance", migration_id=MIGRATION, image_id=image)
    second = module("test_instance", migration_id=MIGRATION, image_id=image)
    assert second.changed is False and second["instance_id"] == first["instance_id"]
    assert len(module.requests("RunInstances")) == 1
    gone = module("test_instance", migration_id=MIGRATION, state="absent")
    assert gone.changed and gone["instance_id"] == first["instance_id"]
    state = ec2.describe_instances(InstanceIds=[first["instance_id"]])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    assert module("test_instance", migration_id=MIGRATION, state="absent").changed is False


def test_check_mode_launches_nothing(ec2: Any, module: Any) -> None:
    result = module("test_instance", check_mode=True, migration_id=MIGRATION, image_id=hvm_image(ec2))
    assert result.changed and result["instance_id"] == ""
    assert not module.requests("RunInstances")


def test_refuses_a_pv_or_missing_image(ec2: Any, module: Any) -> None:
    pv = register_pv_image(ec2)
    result = module("test_instance", migration_id=MIGRATION, image_id=pv.image_id)
    assert result.failed and "paravirtual, not hvm" in result["msg"]
    missing = module("test_instance", migration_id=MIGRATION, image_id="ami-0123456789abcdef0")
    assert missing.failed and "does not exist" in missing["msg"]
    assert not module.requests("RunInstances")
