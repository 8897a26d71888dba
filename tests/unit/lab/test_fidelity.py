"""The lab EC2 endpoint behaves as AWS documents, where stock moto does not.

Every test marked ``aws_behaviour`` reproduces one documented AWS behaviour; its
docstring names the API action and the error code. test_stock_moto.py runs these
tests against stock moto and requires every one of them to fail there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import pytest

from tests.lab.capture import RequestLog

pytestmark = pytest.mark.aws_behaviour

AZ = "us-east-1a"


def error_code(excinfo: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def snapshot_of_new_volume(ec2: Any, size: int = 8, zone: str = AZ) -> str:
    volume = ec2.create_volume(Size=size, AvailabilityZone=zone)
    return ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]


@dataclass
class Registered:
    image_id: str
    root_snapshot: str
    data_snapshot: str


def register_hvm(ec2: Any, name: str = "pv2hvm-test-image", **extra: Any) -> Registered:
    root = snapshot_of_new_volume(ec2, size=10)
    data = snapshot_of_new_volume(ec2, size=4)
    image_id = ec2.register_image(
        Name=name,
        Architecture="x86_64",
        VirtualizationType="hvm",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root, "VolumeType": "gp3", "DeleteOnTermination": True}},
            {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": data, "VolumeSize": 6, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
        ],
        **extra,
    )["ImageId"]
    return Registered(image_id, root, data)


def launch(ec2: Any, image_id: str, zone: str = AZ, **extra: Any) -> dict[str, Any]:
    return ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone}, **extra)["Instances"][0]


def test_register_image_keeps_every_field(ec2: Any) -> None:
    """RegisterImage: the AMI keeps RootDeviceName, BlockDeviceMappings, VirtualizationType,
    Architecture, EnaSupport, SriovNetSupport, BootMode and its TagSpecifications (AWS API
    reference, RegisterImage request parameters; DescribeImages returns them)."""
    with RequestLog.attach(ec2) as log:
        registered = register_hvm(
            ec2,
            EnaSupport=True,
            SriovNetSupport="simple",
            BootMode="legacy-bios",
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "pv2hvm:migration", "Value": "m-1"}]}],
        )
    assert log.of("RegisterImage")[0]["Architecture"] == "x86_64"
    image = ec2.describe_images(ImageIds=[registered.image_id])["Images"][0]
    assert image["VirtualizationType"] == "hvm"
    assert image["Architecture"] == "x86_64"
    assert image["RootDeviceName"] == "/dev/xvda"
    assert image["RootDeviceType"] == "ebs"
    assert image["EnaSupport"] is True
    assert image["SriovNetSupport"] == "simple"
    assert image["BootMode"] == "legacy-bios"
    assert image["Tags"] == [{"Key": "pv2hvm:migration", "Value": "m-1"}]
    mappings = {m["DeviceName"]: m for m in image["BlockDeviceMappings"]}
    assert mappings["/dev/xvda"]["Ebs"] == {
        "SnapshotId": registered.root_snapshot, "VolumeSize": 10, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": False,
    }
    assert mappings["/dev/sdf"]["Ebs"]["SnapshotId"] == registered.data_snapshot
    assert mappings["/dev/sdf"]["Ebs"]["VolumeSize"] == 6
    assert mappings["/dev/sdb"] == {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}


def test_register_image_keeps_pv_kernel_and_ramdisk(ec2: Any) -> None:
    """RegisterImage: a paravirtual AMI keeps KernelId and RamdiskId (AWS API reference,
    RegisterImage; the PV-GRUB AKI of a PV AMI)."""
    root = snapshot_of_new_volume(ec2)
    image_id = ec2.register_image(
        Name="pv-source",
        Architecture="x86_64",
        VirtualizationType="paravirtual",
        KernelId="aki-919dcaf8",
        RamdiskId="ari-00000001",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": root}}],
    )["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert (image["VirtualizationType"], image["KernelId"], image["RamdiskId"]) == ("paravirtual", "aki-919dcaf8", "ari-00000001")
    assert image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == root


def test_register_image_architecture_defaults_to_i386(ec2: Any) -> None:
    """RegisterImage: Architecture defaults to i386 for EBS-backed AMIs (AWS API reference,
    RegisterImage, Architecture: "Default: For Amazon EBS-backed AMIs, i386")."""
    root = snapshot_of_new_volume(ec2)
    image_id = ec2.register_image(
        Name="no-architecture", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}],
    )["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["Architecture"] == "i386"
    assert image["VirtualizationType"] == "paravirtual"


def test_register_image_unknown_snapshot(ec2: Any) -> None:
    """RegisterImage with a mapping to a snapshot that does not exist: InvalidSnapshot.NotFound."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.register_image(
            Name="ghost", Architecture="x86_64", RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}],
        )
    assert error_code(excinfo) == "InvalidSnapshot.NotFound"
    assert "snap-0123456789abcdef0" in str(excinfo.value)
    assert not ec2.describe_images(Owners=["self"])["Images"]


def test_register_image_duplicate_name(ec2: Any) -> None:
    """RegisterImage with a name the account already uses: InvalidAMIName.Duplicate."""
    first = register_hvm(ec2, name="taken-name").image_id
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        register_hvm(ec2, name="taken-name")
    assert error_code(excinfo) == "InvalidAMIName.Duplicate"
    assert first in str(excinfo.value)
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [first]


def test_register_image_tags_only_the_image(ec2: Any) -> None:
    """RegisterImage TagSpecifications accept ResourceType image only; anything else fails
    with InvalidParameterValue (AWS API reference, RegisterImage, TagSpecifications)."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        register_hvm(ec2, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert error_code(excinfo) == "InvalidParameterValue"


def test_snapshot_of_registered_image_is_in_use(ec2: Any) -> None:
    """DeleteSnapshot of a snapshot a registered AMI uses: InvalidSnapshot.InUse."""
    root = register_hvm(ec2).root_snapshot
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.delete_snapshot(SnapshotId=root)
    assert error_code(excinfo) == "InvalidSnapshot.InUse"


def test_run_instances_builds_volumes_from_image_mappings(ec2: Any) -> None:
    """RunInstances: the instance gets one EBS volume per EBS mapping of the AMI, created from
    the mapping's snapshot with its size and type (AWS API reference, RunInstances,
    BlockDeviceMappings); ephemeral mappings create no EBS volume."""
    registered = register_hvm(ec2)
    root, data = registered.root_snapshot, registered.data_snapshot
    instance = launch(ec2, registered.image_id)
    attached = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    assert set(attached) == {"/dev/xvda", "/dev/sdf"}
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes(VolumeIds=list(attached.values()))["Volumes"]}
    root_volume, data_volume = volumes[attached["/dev/xvda"]], volumes[attached["/dev/sdf"]]
    assert (root_volume["SnapshotId"], root_volume["Size"], root_volume["VolumeType"]) == (root, 10, "gp3")
    assert (data_volume["SnapshotId"], data_volume["Size"]) == (data, 6)
    assert root_volume["AvailabilityZone"] == AZ


def test_run_instances_request_mapping_overrides_image(ec2: Any) -> None:
    """RunInstances: a mapping in the request replaces the AMI's mapping for that device and
    the AMI's other mappings still apply (AWS API reference, RunInstances, BlockDeviceMappings)."""
    registered = register_hvm(ec2)
    root, data = registered.root_snapshot, registered.data_snapshot
    instance = launch(ec2, registered.image_id, BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root, "VolumeSize": 20}}])
    attached = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    assert set(attached) == {"/dev/xvda", "/dev/sdf"}
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes(VolumeIds=list(attached.values()))["Volumes"]}
    assert volumes[attached["/dev/xvda"]]["Size"] == 20
    assert volumes[attached["/dev/sdf"]]["SnapshotId"] == data


def test_run_instances_inherits_ena_support(ec2: Any) -> None:
    """RunInstances: an instance launched from an AMI with EnaSupport has EnaSupport
    (AWS API reference, DescribeInstances, EnaSupport)."""
    image_id = register_hvm(ec2, EnaSupport=True).image_id
    instance = launch(ec2, image_id)
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["EnaSupport"] is True


def test_attach_volume_zone_mismatch(ec2: Any) -> None:
    """AttachVolume of a volume in another Availability Zone: InvalidVolume.ZoneMismatch."""
    image_id = register_hvm(ec2).image_id
    instance = launch(ec2, image_id, zone="us-east-1a")
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1b")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance["InstanceId"], Device="/dev/sdg")
    assert error_code(excinfo) == "InvalidVolume.ZoneMismatch"
    assert ec2.describe_volumes(VolumeIds=[volume["VolumeId"]])["Volumes"][0]["State"] == "available"


def test_attach_volume_device_in_use(ec2: Any) -> None:
    """AttachVolume to a device name the instance already uses: InvalidParameterValue
    ("Attachment point ... is already in use")."""
    image_id = register_hvm(ec2).image_id
    instance = launch(ec2, image_id)
    volume = ec2.create_volume(Size=8, AvailabilityZone=AZ)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance["InstanceId"], Device="/dev/sdf")
    assert error_code(excinfo) == "InvalidParameterValue"
    assert "already in use" in str(excinfo.value)


def test_attach_volume_already_attached(ec2: Any) -> None:
    """AttachVolume of a volume that is attached elsewhere: VolumeInUse."""
    image_id = register_hvm(ec2).image_id
    first, second = launch(ec2, image_id), launch(ec2, image_id)
    volume = ec2.create_volume(Size=8, AvailabilityZone=AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=first["InstanceId"], Device="/dev/sdg")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.attach_volume(VolumeId=volume, InstanceId=second["InstanceId"], Device="/dev/sdg")
    assert error_code(excinfo) == "VolumeInUse"
    attachments = ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Attachments"]
    assert [a["InstanceId"] for a in attachments] == [first["InstanceId"]]


def test_parallel_attaches_to_one_device_admit_one(lab: Any, ec2: Any) -> None:
    """AttachVolume: of several concurrent attaches to one device name exactly one succeeds and
    the others get InvalidParameterValue (AWS serialises one instance's attachments)."""
    image_id = register_hvm(ec2).image_id
    instance_id = launch(ec2, image_id)["InstanceId"]
    volumes = [ec2.create_volume(Size=1 + index, AvailabilityZone=AZ)["VolumeId"] for index in range(6)]
    outcomes: list[str] = []

    def attach(volume_id: str) -> None:
        client = lab.client()
        try:
            client.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdh")
            outcomes.append("attached")
        except botocore.exceptions.ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    threads = [threading.Thread(target=attach, args=(v,)) for v in volumes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["InvalidParameterValue"] * 5 + ["attached"]


def test_detach_volume_by_volume_id_alone(ec2: Any) -> None:
    """DetachVolume with only VolumeId (InstanceId and Device are optional in the AWS API
    reference, DetachVolume) detaches the volume."""
    image_id = register_hvm(ec2).image_id
    instance = launch(ec2, image_id)
    volume = ec2.create_volume(Size=8, AvailabilityZone=AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance["InstanceId"], Device="/dev/sdg")
    answer = ec2.detach_volume(VolumeId=volume)
    assert (answer["InstanceId"], answer["Device"]) == (instance["InstanceId"], "/dev/sdg")
    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"] == "available"


def test_detach_volume_not_attached(ec2: Any) -> None:
    """DetachVolume of a volume that is not attached: IncorrectState."""
    volume = ec2.create_volume(Size=8, AvailabilityZone=AZ)["VolumeId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.detach_volume(VolumeId=volume)
    assert error_code(excinfo) == "IncorrectState"


def test_create_volume_smaller_than_snapshot(ec2: Any) -> None:
    """CreateVolume from a snapshot with a Size below the snapshot's: InvalidParameterValue
    (AWS API reference, CreateVolume, Size)."""
    snapshot = snapshot_of_new_volume(ec2, size=8)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_volume(Size=4, SnapshotId=snapshot, AvailabilityZone=AZ)
    assert error_code(excinfo) == "InvalidParameterValue"
    assert ec2.create_volume(Size=12, SnapshotId=snapshot, AvailabilityZone=AZ)["Size"] == 12


def test_snapshot_of_encrypted_volume_keeps_its_key(ec2: Any) -> None:
    """CreateSnapshot of an encrypted volume: the snapshot is encrypted with the volume's KMS key
    (AWS API reference, CreateSnapshot; DescribeSnapshots KmsKeyId)."""
    volume = ec2.create_volume(Size=8, AvailabilityZone=AZ, Encrypted=True)
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    described = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]
    assert described["Encrypted"] is True
    assert described["KmsKeyId"] == volume["KmsKeyId"]


def test_volumes_restored_from_an_encrypted_snapshot_keep_its_key(ec2: Any) -> None:
    """CreateVolume and RunInstances from an encrypted snapshot: the volume is encrypted with the snapshot's KMS key
    unless another is given (AWS API reference, CreateVolume, KmsKeyId; EBS encryption: "volumes that you create
    from an encrypted snapshot are also encrypted")."""
    key = "arn:aws:kms:us-east-1:123456789012:key/5e1f7a2b-0c3d-4e5f-8a9b-0123456789ab"
    volume = ec2.create_volume(Size=8, AvailabilityZone=AZ, Encrypted=True, KmsKeyId=key)
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    restored = ec2.create_volume(Size=8, AvailabilityZone=AZ, SnapshotId=snapshot)
    assert (restored["Encrypted"], restored.get("KmsKeyId")) == (True, key)
    image = ec2.register_image(Name="encrypted", Architecture="x86_64", VirtualizationType="hvm", RootDeviceName="/dev/xvda",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": AZ})["Instances"][0]
    root = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}])["Volumes"][0]
    assert (root["Encrypted"], root.get("KmsKeyId"), root.get("SnapshotId")) == (True, key, snapshot)


def test_modify_instance_attribute_ena_support_changes_only_ena(ec2: Any) -> None:
    """ModifyInstanceAttribute EnaSupport sets the flag and leaves the security groups alone
    (AWS API reference, ModifyInstanceAttribute, EnaSupport)."""
    image_id = register_hvm(ec2).image_id
    group = ec2.create_security_group(GroupName="worker", Description="pv2hvm worker")["GroupId"]
    instance_id = launch(ec2, image_id, SecurityGroupIds=[group])["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=instance_id, EnaSupport={"Value": True})
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["EnaSupport"] is True
    assert [g["GroupId"] for g in described["SecurityGroups"]] == [group]
