"""The EC2 scenery of a migration in the lab endpoint: PV sources and workers.

Without a data plane the volumes hold no bytes (module tests); with one
(`LabEndpoint(data_dir=...)`), `seed_pv_root` puts a real PV image on the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from tests.lab.endpoint import LAB_REGION

WORKER_AZ = "us-east-1a"
PV_KERNEL = "aki-919dcaf8"  # the pv-grub-hd0 AKI of us-east-1


@dataclass
class PvImage:
    image_id: str
    root_snapshot: str
    data_snapshot: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def snapshot_of_new_volume(ec2: Any, size: int = 8, encrypted: bool = False) -> str:
    volume = ec2.create_volume(Size=size, AvailabilityZone=WORKER_AZ, Encrypted=encrypted)
    return ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]


def register_pv_image(
    ec2: Any, name: str = "legacy-web", size: int = 8, data_volume: bool = True, root_snapshot: str = "",
    data_snapshot: str = "", **extra: Any
) -> PvImage:
    """A PV AMI as EC2 had them: root on /dev/sda1, a data volume at /dev/sdf (empty, or `data_snapshot`),
    an ephemeral disk, PV-GRUB kernel."""
    root = root_snapshot or snapshot_of_new_volume(ec2, size=size, encrypted=extra.pop("encrypted", False))
    mappings = [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": root, "VolumeType": "standard"}}]
    data = ""
    if data_volume:
        data = data_snapshot or snapshot_of_new_volume(ec2, size=4)
        mappings.append({"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": data, "DeleteOnTermination": False}})
    mappings.append({"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"})
    request = dict(
        Name=name, Architecture="x86_64", VirtualizationType="paravirtual", KernelId=PV_KERNEL,
        RootDeviceName="/dev/sda1", BlockDeviceMappings=mappings,
    )
    request.update(extra)
    image_id = ec2.register_image(**request)["ImageId"]
    return PvImage(image_id, root, data)


def launch(ec2: Any, image_id: str, zone: str = WORKER_AZ, name: str = "", **extra: Any) -> str:
    if name:
        extra["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}]
    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": zone}, **extra)
    return instance["Instances"][0]["InstanceId"]


def register_worker_image(ec2: Any) -> str:
    """An HVM AMI for workers (any HVM AMI will do), root at /dev/xvda."""
    root = snapshot_of_new_volume(ec2, size=8)
    return ec2.register_image(
        Name=f"worker-{root}", Architecture="x86_64", VirtualizationType="hvm", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}],
    )["ImageId"]


def launch_worker(ec2: Any, zone: str = WORKER_AZ) -> str:
    """A worker instance with its own root volume at /dev/xvda."""
    return launch(ec2, register_worker_image(ec2), zone=zone, name="pv2hvm-worker")


def seed_pv_root(lab: Any, image: Path, what: str = "PV root", kms_key_id: str = "") -> str:
    """A snapshot holding a raw disk image, e.g. a PV root or a data volume (needs the lab's data plane);
    encrypted with `kms_key_id` if given."""
    from tests.lab.ebs import size_in_gib  # pylint: disable=import-outside-toplevel

    ec2 = lab.client()
    encryption = {"Encrypted": True, "KmsKeyId": kms_key_id} if kms_key_id else {}
    volume = ec2.create_volume(Size=size_in_gib(image), AvailabilityZone=WORKER_AZ, VolumeType="standard", **encryption)["VolumeId"]
    lab.ebs.write_image(volume, image)
    snapshot = ec2.create_snapshot(VolumeId=volume, Description=f"lab: {what} from {image.name}")["SnapshotId"]
    ec2.delete_volume(VolumeId=volume)
    return snapshot


def data_snapshots(lab: Any, image_id: str) -> list[Path]:
    """The files of an AMI's non-root EBS snapshots, in mapping order: its data volumes, to attach at boot."""
    image = lab.client().describe_images(ImageIds=[image_id])["Images"][0]
    return [lab.ebs.snapshot_file(m["Ebs"]["SnapshotId"]) for m in image["BlockDeviceMappings"]
            if m["DeviceName"] != image["RootDeviceName"] and m.get("Ebs", {}).get("SnapshotId")]


def register_lab_worker(lab: Any, zone: str = WORKER_AZ) -> str:
    """A worker instance whose attached volumes appear on this machine (loop devices)."""
    worker = launch_worker(lab.client(), zone=zone)
    lab.ebs.worker_ids.add(worker)
    return worker


def register_lab_worker_image(lab: Any) -> str:
    """A worker AMI: instances launched from it (e.g. by the playbook) count as this machine."""
    image_id = register_worker_image(lab.client())
    lab.ebs.worker_image_ids.add(image_id)
    return image_id


def backend() -> Any:
    """The in-process moto backend, for states the EC2 API cannot create (Marketplace, instance store)."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID][LAB_REGION]


def volumes_tagged(ec2: Any, migration_id: str) -> list[dict[str, Any]]:
    return ec2.describe_volumes(Filters=[{"Name": "tag:pv2hvm:migration", "Values": [migration_id]}])["Volumes"]


def tagged_resources(ec2: Any, migration_id: str) -> list[str]:
    """Ids of every live instance, volume, AMI and snapshot tagged with this migration."""
    filters = [{"Name": "tag:pv2hvm:migration", "Values": [migration_id]}]
    instances = [i["InstanceId"] for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"]
    volumes = [v["VolumeId"] for v in ec2.describe_volumes(Filters=filters)["Volumes"]]
    images = [i["ImageId"] for i in ec2.describe_images(Owners=["self"], Filters=filters)["Images"]]
    snapshots = [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]]
    return instances + volumes + images + snapshots


def own_snapshot_ids(ec2: Any) -> set[str]:
    return {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
