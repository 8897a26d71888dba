"""cloudops.pv2hvm.source_info against the lab EC2 endpoint."""

from __future__ import annotations

from typing import Any

from tests.lab.world import PV_KERNEL, WORKER_AZ, backend, launch, register_pv_image


def test_instance_source_facts(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    instance_id = launch(ec2, image.image_id, name="legacy-web-01")
    result = module("source_info", instance_id=instance_id)
    assert not result.failed, result
    assert result.changed is False
    assert (result["source_type"], result["id"], result["name"]) == ("instance", instance_id, "legacy-web-01")
    assert result["tags"] == {"Name": "legacy-web-01"}
    assert (result["virtualization_type"], result["architecture"]) == ("paravirtual", "x86_64")
    assert (result["root_device_name"], result["root_device_type"]) == ("/dev/sda1", "ebs")
    assert (result["kernel_id"], result["availability_zone"], result["instance_state"]) == (PV_KERNEL, WORKER_AZ, "running")
    assert result["image_id"] == image.image_id
    root = result["root_volume"]
    described = ec2.describe_volumes(VolumeIds=[root["volume_id"]])["Volumes"][0]
    assert (root["size"], root["volume_type"], root["encrypted"], root["snapshot_id"]) == (8, "standard", False, image.root_snapshot)
    assert described["Attachments"][0]["InstanceId"] == instance_id
    devices = {m["device_name"]: m for m in result["block_device_mappings"]}
    assert result["block_device_mappings"][0]["device_name"] == "/dev/sda1"
    assert devices["/dev/sdf"]["ebs"]["snapshot_id"] == image.data_snapshot
    assert devices["/dev/sdf"]["is_root"] is False
    assert devices["/dev/sdb"]["virtual_name"] == "ephemeral0"
    assert (result["ena_support"], result["platform"], result["product_codes"]) == (False, "", [])
    data_volume = devices["/dev/sdf"]["ebs"]["volume_id"]
    assert result["hvm_block_device_mappings"] == [
        {"device_name": "/dev/sdf", "delete_on_termination": False, "volume_id": data_volume, "volume_type": "gp2"},
        {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"},
    ]


def test_image_source_facts(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2, name="legacy-db", RamdiskId="ari-00000001")
    result = module("source_info", image_id=image.image_id)
    assert not result.failed, result
    assert (result["source_type"], result["name"], result["ramdisk_id"]) == ("image", "legacy-db", "ari-00000001")
    assert result["root_snapshot"]["snapshot_id"] == image.root_snapshot
    assert result["root_snapshot"]["volume_size"] == 8
    assert "root_volume" not in result
    mappings = {m["device_name"]: m for m in result["block_device_mappings"]}
    assert mappings["/dev/sdf"]["ebs"]["snapshot_id"] == image.data_snapshot
    assert mappings["/dev/sdb"] == {"device_name": "/dev/sdb", "is_root": False, "virtual_name": "ephemeral0"}
    assert result["hvm_block_device_mappings"] == [
        {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"},
        {"device_name": "/dev/sdf", "delete_on_termination": False, "snapshot_id": image.data_snapshot, "volume_type": "gp2"},
    ]


def test_encrypted_root_snapshot_reports_its_key(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2, encrypted=True)
    result = module("source_info", image_id=image.image_id)
    assert result["root_snapshot"]["encrypted"] is True
    assert result["root_snapshot"]["kms_key_id"]


def test_check_mode_reports_the_same(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    normal = module("source_info", image_id=image.image_id)
    checked = module("source_info", check_mode=True, image_id=image.image_id)
    assert checked["root_snapshot"] == normal["root_snapshot"]
    assert checked.changed is False


def test_refuses_a_source_that_is_already_hvm(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2, VirtualizationType="hvm")
    result = module("source_info", image_id=image.image_id)
    assert result.failed
    assert "already HVM" in result["msg"] and "allow_hvm: true" in result["msg"]
    allowed = module("source_info", image_id=image.image_id, allow_hvm=True)
    assert not allowed.failed and allowed["virtualization_type"] == "hvm"


def test_refuses_an_instance_store_root(ec2: Any, module: Any) -> None:
    instance_id = launch(ec2, register_pv_image(ec2).image_id)
    backend().get_instance(instance_id).root_device_type = "instance-store"
    result = module("source_info", instance_id=instance_id)
    assert result.failed
    assert "instance-store root device" in result["msg"] and "EBS-backed" in result["msg"]


def test_refuses_marketplace_product_codes(ec2: Any, module: Any) -> None:
    instance_id = launch(ec2, register_pv_image(ec2).image_id)
    backend().get_instance(instance_id).product_codes = [{"ProductCodeId": "8fjyrdoj2g6x2b7nnt3omk9m0", "ProductCodeType": "marketplace"}]
    result = module("source_info", instance_id=instance_id)
    assert result.failed
    assert "8fjyrdoj2g6x2b7nnt3omk9m0" in result["msg"] and "Marketplace" in result["msg"]


def test_refuses_windows(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    backend().amis[image.image_id].platform = "windows"
    result = module("source_info", image_id=image.image_id)
    assert result.failed
    assert "Windows" in result["msg"]


def test_unknown_ids_say_what_to_check(module: Any) -> None:
    instance = module("source_info", instance_id="i-0123456789abcdef0")
    assert instance.failed and "i-0123456789abcdef0 was not found" in instance["msg"]
    image = module("source_info", image_id="ami-0123456789abcdef0")
    assert image.failed and "ami-0123456789abcdef0 was not found" in image["msg"]


def test_exactly_one_source(module: Any) -> None:
    both = module("source_info", instance_id="i-0123456789abcdef0", image_id="ami-0123456789abcdef0")
    assert both.failed and "mutually exclusive" in both["msg"]
    neither = module("source_info")
    assert neither.failed and "one of the following is required" in neither["msg"]
