"""Restore documented AWS EC2 behaviour that stock moto drops.

moto is a good EC2 stand-in, but several calls this collection depends on behave
differently from AWS in the pinned moto release (see DESIGN.md, "The lab"). Each
function below restores one behaviour and names the AWS API reference it follows;
tests/lab/test_fidelity.py holds one test per behaviour.

The patch is tied to one moto release. `install()` refuses any other version, and
refuses to run when a patched attribute has moved, so a moto upgrade fails loudly
instead of silently testing against stock behaviour.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import moto
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.utils import random_ami_id

PINNED_MOTO_VERSION = "5.2.5"

# AWS documents these RegisterImage defaults ("Architecture ... Default: For Amazon
# EBS-backed AMIs, i386", "VirtualizationType ... Default: paravirtual"); the
# i386 default is why this collection always passes Architecture.
REGISTER_IMAGE_DEFAULT_ARCHITECTURE = "i386"
REGISTER_IMAGE_DEFAULT_VIRTUALIZATION = "paravirtual"

# A real EC2 region serialises changes to one instance's attachments; moto's threaded
# server does not, so parallel AttachVolume calls could both take one device name.
_ATTACH_LOCK = threading.RLock()
_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {}
# Who else follows EBS state changes: the lab's data plane (tests/lab/ebs.py).
_OBSERVERS: list[Any] = []


def observe(observer: Any) -> None:
    """Tell `observer` about every EBS change: volume_created(volume), snapshot_created(snapshot),
    volume_attached(volume_id, instance), volume_detaching(volume_id) (may refuse by raising),
    volume_deleted(volume_id) and snapshot_deleted(snapshot_id)."""
    _OBSERVERS.append(observer)


def unobserve(observer: Any) -> None:
    if observer in _OBSERVERS:
        _OBSERVERS.remove(observer)


def _notify(event: str, *args: Any) -> None:
    for observer in list(_OBSERVERS):
        getattr(observer, event)(*args)


class LabFidelityError(RuntimeError):
    """The installed moto is not the one this extension was written and tested for."""


class LabClientError(EC2ClientError):
    """An EC2 error response with AWS's documented code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


class LabAmi(Ami):
    """An AMI that keeps what RegisterImage was given (stock moto keeps Name/Description)."""

    def __init__(self, backend: Any, ami_id: str, request: dict[str, Any]) -> None:
        super().__init__(backend, ami_id, name=request.get("Name"), description=request.get("Description") or "")
        # Ami.__init__ always invents a 15 GiB snapshot for the image; a registered AMI
        # uses the snapshots in its mappings instead, so drop the invented one.
        backend.delete_snapshot(self.ebs_snapshot.id)
        self.ebs_snapshot = None
        self.image_location = f"{backend.account_id}/{request.get('Name')}"
        self.architecture = request.get("Architecture") or REGISTER_IMAGE_DEFAULT_ARCHITECTURE
        self.virtualization_type = request.get("VirtualizationType") or REGISTER_IMAGE_DEFAULT_VIRTUALIZATION
        self.root_device_name = request.get("RootDeviceName") or "/dev/sda1"
        self.root_device_type = "ebs"
        self.hypervisor = "xen"
        self.kernel_id = request.get("KernelId")
        self.ramdisk_id = request.get("RamdiskId")
        self.ena_support = bool(request.get("EnaSupport", False))
        self.sriov_net_support = request.get("SriovNetSupport")
        self.sriov = self.sriov_net_support
        self.boot_mode = request.get("BootMode")
        self.lab_mappings = [_image_mapping(backend, m) for m in request.get("BlockDeviceMappings") or []]

    @property
    def block_device_mappings(self) -> list[dict[str, Any]]:
        return [dict(m, Ebs=dict(m["Ebs"])) if "Ebs" in m else dict(m) for m in self.lab_mappings]

    def get_filter_value(self, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "block-device-mapping.snapshot-id":
            return [m["Ebs"]["SnapshotId"] for m in self.lab_mappings if "Ebs" in m]
        if filter_name == "ena-support":
            return str(self.ena_support).lower()
        if filter_name in ("root-device-name", "root-device-type", "hypervisor"):
            return getattr(self, filter_name.replace("-", "_"))
        return super().get_filter_value(filter_name, method_name)


def _image_mapping(backend: Any, mapping: dict[str, Any]) -> dict[str, Any]:
    """One BlockDeviceMapping as DescribeImages reports it, with the snapshot's defaults."""
    if mapping.get("VirtualName"):
        return {"DeviceName": mapping["DeviceName"], "VirtualName": mapping["VirtualName"]}
    ebs = dict(mapping.get("Ebs") or {})
    snapshot = backend.snapshots[ebs["SnapshotId"]]
    result: dict[str, Any] = {
        "DeleteOnTermination": bool(ebs.get("DeleteOnTermination", True)),
        "SnapshotId": snapshot.id,
        "VolumeSize": int(ebs.get("VolumeSize") or snapshot.volume_size),
        "VolumeType": ebs.get("VolumeType") or "gp2",
        "Encrypted": bool(snapshot.encrypted),
    }
    for key in ("Iops", "Throughput", "KmsKeyId"):
        if ebs.get(key) is not None:
            result[key] = ebs[key]
    return {"DeviceName": mapping["DeviceName"], "Ebs": result}


def register_image_response(self: AmisResponse) -> Any:
    """RegisterImage keeps every field it is given.

    AWS API reference, RegisterImage: RootDeviceName, BlockDeviceMappings,
    VirtualizationType, Architecture, KernelId, RamdiskId, EnaSupport,
    SriovNetSupport, BootMode and TagSpecifications (ResourceType ``image`` only).
    """
    from moto.core.responses import ActionResult

    request = {
        key: self._get_param(key)
        for key in (
            "Name", "Description", "Architecture", "RootDeviceName", "BlockDeviceMappings",
            "VirtualizationType", "KernelId", "RamdiskId", "EnaSupport", "SriovNetSupport", "BootMode",
        )
    }
    request["Tags"] = _image_tags(self._get_param("TagSpecifications", []))
    self.error_on_dryrun()
    image = self.ec2_backend.register_image(request=request)
    return ActionResult({"ImageId": image.id})


def _image_tags(tag_specifications: list[dict[str, Any]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in tag_specifications or []:
        if spec.get("ResourceType") != "image":
            raise LabClientError(
                "InvalidParameterValue",
                f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this operation.",
            )
        tags.update({tag["Key"]: tag.get("Value", "") for tag in spec.get("Tags", [])})
    return tags


def register_image_backend(self: Any, name: str | None = None, description: str | None = None, request: dict | None = None) -> Ami:
    """RegisterImage validates before it registers.

    AWS API reference, RegisterImage; error codes: ``InvalidSnapshot.NotFound`` for a
    mapping whose snapshot does not exist, ``InvalidAMIName.Duplicate`` for a name the
    account already uses in the region.
    """
    request = dict(request or {"Name": name, "Description": description})
    for mapping in request.get("BlockDeviceMappings") or []:
        snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
        if snapshot_id and snapshot_id not in self.snapshots:
            raise LabClientError("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
    for image in self.amis.values():
        if image.owner_id == self.account_id and image.name == request.get("Name"):
            raise LabClientError("InvalidAMIName.Duplicate", f"AMI name {request['Name']} is already in use by AMI {image.id}")
    ami = LabAmi(self, random_ami_id(), request)
    ami.add_tags(request.get("Tags") or {})
    for mapping in ami.lab_mappings:
        if "Ebs" in mapping:
            # DeleteSnapshot answers InvalidSnapshot.InUse while an AMI uses the snapshot.
            self.snapshots[mapping["Ebs"]["SnapshotId"]].from_ami = ami.id
    self.amis[ami.id] = ami
    return ami


def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any) -> Any:
    """RunInstances builds the root and data volumes from the AMI's block device mappings.

    AWS API reference, RunInstances, BlockDeviceMappings: "the block device mappings of
    the AMI" apply unless the request overrides a device. Stock moto attaches one
    empty 8 GiB volume instead. The instance also inherits EnaSupport/SriovNetSupport.
    """
    image = self.amis.get(image_id)
    if isinstance(image, LabAmi) and image.lab_mappings:
        requested = {m["DeviceName"]: m for m in kwargs.get("block_device_mappings") or []}
        merged = [requested.pop(m["DeviceName"], None) or _run_mapping(self, m) for m in image.lab_mappings if "Ebs" in m]
        kwargs["block_device_mappings"] = merged + list(requested.values())
    reservation = _ORIGINALS[(InstanceBackend, "run_instances")](self, image_id, count, user_data, security_group_names, **kwargs)
    if isinstance(image, LabAmi):
        for instance in reservation.instances:
            instance.ena_support = image.ena_support
            instance.sriov_net_support = image.sriov_net_support
            instance.kernel = image.kernel_id
            instance.ramdisk = image.ramdisk_id
    return reservation


def _run_mapping(backend: Any, mapping: dict[str, Any]) -> dict[str, Any]:
    """An AMI mapping as RunInstances builds its volume: from the snapshot, with the snapshot's key if encrypted."""
    ebs = mapping["Ebs"]
    snapshot_key = backend.get_snapshot(ebs["SnapshotId"]).kms_key_id if ebs.get("Encrypted") else None
    return {
        "DeviceName": mapping["DeviceName"],
        "Ebs": {
            "SnapshotId": ebs["SnapshotId"],
            "VolumeSize": ebs["VolumeSize"],
            "VolumeType": ebs["VolumeType"],
            "DeleteOnTermination": ebs["DeleteOnTermination"],
            "Encrypted": ebs["Encrypted"],
            "KmsKeyId": ebs.get("KmsKeyId") or snapshot_key,
        },
    }


def attach_volume(self: Any, volume_id: str, instance_id: str, device_path: str, delete_on_termination: bool = False) -> Any:
    """AttachVolume rejects what AWS rejects.

    AWS API reference, AttachVolume; error codes: ``VolumeInUse`` for a volume that is
    already attached, ``InvalidVolume.ZoneMismatch`` for a volume in another
    Availability Zone than the instance, ``InvalidParameterValue`` for a device name the
    instance already uses ("Attachment point ... is already in use").
    """
    with _ATTACH_LOCK:
        volume = self.get_volume(volume_id)
        instance = self.get_instance(instance_id)
        if volume.attachment:
            raise LabClientError("VolumeInUse", f"{volume_id} is already attached to an instance")
        if volume.zone and instance.placement.zone and volume.zone.name != instance.placement.zone:
            raise LabClientError(
                "InvalidVolume.ZoneMismatch",
                f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'",
            )
        if device_path in instance.block_device_mapping:
            raise LabClientError(
                "InvalidParameterValue",
                f"Invalid value '{device_path}' for unixDevice. Attachment point {device_path} is already in use",
            )
        attachment = _ORIGINALS[(EBSBackend, "attach_volume")](self, volume_id, instance_id, device_path, delete_on_termination)
        try:
            _notify("volume_attached", volume_id, instance)
        except Exception:
            _ORIGINALS[(EBSBackend, "detach_volume")](self, volume_id, instance_id, device_path)
            raise
        return attachment


def detach_volume(self: Any, volume_id: str, instance_id: str | None = None, device_path: str | None = None) -> Any:
    """DetachVolume needs only VolumeId.

    AWS API reference, DetachVolume: InstanceId and Device are optional. A volume that
    is not attached answers ``IncorrectState``.
    """
    with _ATTACH_LOCK:
        volume = self.get_volume(volume_id)
        if not volume.attachment:
            raise LabClientError("IncorrectState", f"Volume '{volume_id}' is in the 'available' state.")
        instance_id = instance_id or volume.attachment.instance.id
        device_path = device_path or volume.attachment.device
        _notify("volume_detaching", volume_id)
        return _ORIGINALS[(EBSBackend, "detach_volume")](self, volume_id, instance_id, device_path)


def create_volume(self: Any, size: int, zone_name: str, snapshot_id: str | None = None, **kwargs: Any) -> Any:
    """CreateVolume refuses a size below the snapshot's, and keeps an encrypted snapshot's key.

    AWS API reference, CreateVolume, Size: "If you specify a snapshot, the default is
    the snapshot size. You can specify a volume size that is equal to or larger than
    the snapshot size." Error code ``InvalidParameterValue``.
    """
    if snapshot_id and size is not None:
        snapshot = self.get_snapshot(snapshot_id)
        if int(size) < snapshot.volume_size:
            raise LabClientError(
                "InvalidParameterValue",
                f"Volume of {size}GiB is smaller than snapshot '{snapshot_id}', expect size >= {snapshot.volume_size}GiB",
            )
    volume = _ORIGINALS[(EBSBackend, "create_volume")](self, size, zone_name, snapshot_id, **kwargs)
    # CreateVolume, KmsKeyId/Encrypted: a volume restored from an encrypted snapshot is encrypted, by
    # default with the snapshot's key (stock moto gives it none, or a new one).
    if snapshot_id and not kwargs.get("kms_key_id"):
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot.encrypted:
            volume.encrypted, volume.kms_key_id = True, snapshot.kms_key_id
    _notify("volume_created", volume)
    return volume


def delete_volume(self: Any, volume_id: str) -> Any:
    """DeleteVolume: stock behaviour; observers learn of it."""
    volume = _ORIGINALS[(EBSBackend, "delete_volume")](self, volume_id)
    _notify("volume_deleted", volume_id)
    return volume


def delete_snapshot(self: Any, snapshot_id: str) -> Any:
    """DeleteSnapshot: stock behaviour; observers learn of it."""
    snapshot = _ORIGINALS[(EBSBackend, "delete_snapshot")](self, snapshot_id)
    _notify("snapshot_deleted", snapshot_id)
    return snapshot


def create_snapshot(self: Any, volume_id: str, description: str, owner_id: str | None = None, from_ami: str | None = None) -> Any:
    """CreateSnapshot of an encrypted volume is encrypted with the volume's KMS key.

    AWS API reference, CreateSnapshot: "Snapshots that are taken from encrypted volumes
    are automatically encrypted"; DescribeSnapshots reports the volume's KmsKeyId.
    """
    snapshot = _ORIGINALS[(EBSBackend, "create_snapshot")](self, volume_id, description, owner_id, from_ami)
    snapshot.kms_key_id = snapshot.kms_key_id or self.get_volume(volume_id).kms_key_id
    _notify("snapshot_created", snapshot)
    return snapshot


def modify_instance_attribute_response(self: InstanceResponse) -> Any:
    """ModifyInstanceAttribute EnaSupport / SriovNetSupport change only that flag.

    AWS API reference, ModifyInstanceAttribute: EnaSupport and SriovNetSupport are
    attributes of their own. Stock moto routes them to the security-group handler,
    which replaces the instance's groups with an empty list.
    """
    from moto.core.responses import EmptyResult

    changes = {
        "ena_support": _attribute_value(self._get_param("EnaSupport")),
        "sriov_net_support": _attribute_value(self._get_param("SriovNetSupport")),
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        return _ORIGINALS[(InstanceResponse, "modify_instance_attribute")](self)
    self.error_on_dryrun()
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    for key, value in changes.items():
        setattr(instance, key, value)
    return EmptyResult()


def _attribute_value(param: Any) -> Any:
    if isinstance(param, dict):
        return param.get("Value")
    return param


_PATCHES: list[tuple[type, str, Callable[..., Any]]] = [
    (AmisResponse, "register_image", register_image_response),
    (AmiBackend, "register_image", register_image_backend),
    (InstanceBackend, "run_instances", run_instances),
    (EBSBackend, "attach_volume", attach_volume),
    (EBSBackend, "detach_volume", detach_volume),
    (EBSBackend, "create_volume", create_volume),
    (EBSBackend, "create_snapshot", create_snapshot),
    (EBSBackend, "delete_volume", delete_volume),
    (EBSBackend, "delete_snapshot", delete_snapshot),
    (InstanceResponse, "modify_instance_attribute", modify_instance_attribute_response),
]


def install() -> None:
    """Patch moto in this process. Idempotent; refuses an unexpected moto."""
    if moto.__version__ != PINNED_MOTO_VERSION:
        raise LabFidelityError(
            f"tests/lab/fidelity.py was written for moto {PINNED_MOTO_VERSION}, found {moto.__version__}. "
            "Re-check every patched behaviour against the new moto, then update PINNED_MOTO_VERSION "
            "and the pin in test-requirements.txt together."
        )
    from tests.lab import ebs_direct  # pylint: disable=import-outside-toplevel

    ebs_direct.install()
    for owner, name, replacement in _PATCHES:
        current = owner.__dict__.get(name)
        if current is replacement:
            continue
        if current is None:
            raise LabFidelityError(f"moto no longer defines {owner.__name__}.{name}; the lab extension must be updated.")
        _ORIGINALS[(owner, name)] = current
        setattr(owner, name, replacement)


def installed() -> bool:
    """True when every behaviour of this module (and of the EBS direct APIs) is active in this process."""
    from tests.lab import ebs_direct  # pylint: disable=import-outside-toplevel

    return ebs_direct.installed() and all(owner.__dict__.get(name) is replacement for owner, name, replacement in _PATCHES)
