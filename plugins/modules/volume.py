#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: volume
version_added: 0.1.0
short_description: Stage the EBS volumes of a PV to HVM migration on the worker instance
description:
  - Creates the staging volumes of a migration - the C(working-copy) of the source's root (from a
    snapshot), the empty C(destination), and a C(data-copy) of each data volume (from its snapshot, only
    read, to learn the filesystem ids fstab needs) - attaches them to the worker instance, detaches them,
    and deletes them.
  - A volume is found again by its tags C(pv2hvm:migration) and C(pv2hvm:purpose) (and
    C(pv2hvm:source-device) for a data copy), so re-running a migration reuses the volume it already made
    instead of creating another.
  - Attaching picks the first free device name from C(/dev/sdf) to C(/dev/sdp) and moves on to the next
    one when AWS answers that the name is in use, so several migrations can share one worker at once.
author:
  - cloudops maintainers (@cloudops)
options:
  state:
    description:
      - V(present) creates the volume if this migration has none yet, and attaches it when O(instance_id) is given.
      - V(detached) detaches the volume if it is attached.
      - V(absent) detaches the volume if needed, then deletes it.
    type: str
    choices: [present, detached, absent]
    default: present
  migration_id:
    description:
      - The migration this volume belongs to; tagged as C(pv2hvm:migration).
      - Required to create a volume. With O(purpose), finds the volume of a migration in every state.
    type: str
  purpose:
    description:
      - What the volume is for; tagged as C(pv2hvm:purpose).
    type: str
    choices: [working-copy, destination, data-copy]
  source_device_name:
    description:
      - For O(purpose=data-copy), the device name of the source's data volume this volume copies (for
        example C(/dev/sdf)); tagged as C(pv2hvm:source-device), so each data volume has its own copy.
      - Required with O(purpose=data-copy), not allowed with the other purposes.
    type: str
  volume_id:
    description:
      - Act on this volume instead of looking it up by O(migration_id) and O(purpose).
    type: str
  snapshot_id:
    description:
      - Create the volume from this snapshot (the working copy of a PV root).
      - Without it the volume is created empty with O(size).
    type: str
  size:
    description:
      - Size in GiB. Required for an empty volume.
      - With O(snapshot_id) it defaults to the snapshot's size and must not be smaller; larger is allowed.
    type: int
  availability_zone:
    description:
      - Where to create the volume. Defaults to the Availability Zone of O(instance_id).
      - A volume can only be attached to an instance in its own Availability Zone.
    type: str
  volume_type:
    description:
      - The EBS volume type.
    type: str
    default: gp3
    choices: [gp2, gp3, io1, io2, st1, sc1, standard]
  iops:
    description:
      - Provisioned IOPS for V(gp3), V(io1) and V(io2) volumes.
    type: int
  throughput:
    description:
      - Provisioned throughput in MiB/s for V(gp3) volumes.
    type: int
  encrypted:
    description:
      - Whether to encrypt the volume. Defaults to the snapshot's encryption (or the account's default).
    type: bool
  kms_key_id:
    description:
      - The KMS key to encrypt with. Defaults to the snapshot's key.
    type: str
  tags:
    description:
      - Extra tags for the volume. The C(pv2hvm:) tags are always set and win over these.
    type: dict
    default: {}
  instance_id:
    description:
      - The worker instance to attach the volume to (O(state=present)).
    type: str
  device_name:
    description:
      - Attach at this device name instead of the first free one of C(/dev/sdf) to C(/dev/sdp).
    type: str
  force:
    description:
      - Allow O(state=absent) to delete a volume this collection did not create (one without a
        C(pv2hvm:migration) tag).
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait for the volume to become available, attached, detached or deleted.
    type: int
    default: 600
notes:
  - Supports check mode, which reports what would be created, attached, detached or deleted.
seealso:
  - module: cloudops.pv2hvm.source_info
  - module: cloudops.pv2hvm.block_device
  - module: cloudops.pv2hvm.hvm_image
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stage a working copy of the PV root on the worker (from the source's snapshot)
  cloudops.pv2hvm.volume:
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: working-copy
    snapshot_id: "{{ pv2hvm_root_snapshot_id }}"
    instance_id: "{{ pv2hvm_worker_instance_id }}"
  register: pv2hvm_working_copy

- name: Create the empty destination, a little larger than the source, and attach it
  cloudops.pv2hvm.volume:
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: destination
    size: "{{ pv2hvm_source.root_volume.size + 1 }}"
    volume_type: gp3
    instance_id: "{{ pv2hvm_worker_instance_id }}"
  register: pv2hvm_destination

- name: Copy the source's /dev/sdf data volume from its snapshot, to read its filesystem id on the worker
  cloudops.pv2hvm.volume:
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: data-copy
    source_device_name: /dev/sdf
    snapshot_id: "{{ pv2hvm_data_snapshot_id }}"
    instance_id: "{{ pv2hvm_worker_instance_id }}"
  register: pv2hvm_data_copy

- name: Detach the destination once the worker has converted it
  cloudops.pv2hvm.volume:
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: destination
    state: detached

- name: Delete the working copy
  cloudops.pv2hvm.volume:
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: working-copy
    state: absent
"""

RETURN = r"""
volume_id:
  description: The volume's ID. Empty when nothing exists (state absent, or check mode before creation).
  returned: always
  type: str
  sample: vol-0123456789abcdef0
device_name:
  description: The device name the volume is attached at, empty when it is not attached.
  returned: always
  type: str
  sample: /dev/sdf
attachment_state:
  description: C(attached) or C(detached).
  returned: always
  type: str
  sample: attached
created:
  description:
    - Whether this run created the volume (in check mode - would create it). V(false) when it reused the volume an
      earlier run of the migration made, or with O(state=detached) or O(state=absent).
  returned: always
  type: bool
  sample: true
volume:
  description: The volume as EC2 describes it, in snake_case; empty when it does not exist.
  returned: always
  type: dict
  contains:
    volume_id:
      description: The volume ID.
      type: str
    size:
      description: Size in GiB.
      type: int
    availability_zone:
      description: The volume's Availability Zone.
      type: str
    volume_type:
      description: The EBS volume type.
      type: str
    snapshot_id:
      description: The snapshot it was created from, if any.
      type: str
    encrypted:
      description: Whether it is encrypted.
      type: bool
    state:
      description: The volume state, e.g. C(available) or C(in-use).
      type: str
    attachments:
      description: Its attachments.
      type: list
    tags:
      description: Its tags, as a dict.
      type: dict
"""

from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import attach_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import create_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import delete_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import detach_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import error_code
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_volumes
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_instance
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_SOURCE_DEVICE
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import is_ours
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_filters
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_tags
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import tag_specifications
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import WaitTimeout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import wait_for

# AWS's recommended device names for EBS data volumes on Linux.
ATTACH_SLOTS = tuple(f"/dev/sd{letter}" for letter in "fghijklmnop")


class StagingVolume:
    """One staging volume of one migration, found by id or by its pv2hvm tags."""

    def __init__(self, module: AnsibleAWSModule, client: Any) -> None:
        self.module = module
        self.client = client
        self.params = module.params
        self.changed = False
        self.created = False  # this run made the volume (a re-run reuses the one an earlier run made)
        self.volume: Optional[Dict[str, Any]] = None
        self.plan: Optional[Dict[str, Any]] = None  # the CreateVolume request check mode did not send

    # ---- finding -------------------------------------------------------------------
    def find(self) -> Optional[Dict[str, Any]]:
        if self.params["volume_id"]:
            volume = get_volume(self.client, self.params["volume_id"])
            if volume is None and self.params["state"] == "present":
                raise Pv2hvmError(f"Volume {self.params['volume_id']} does not exist. Leave volume_id out to create one for the migration.")
            return volume
        if not (self.params["migration_id"] and self.params["purpose"]):
            raise Pv2hvmError("Give volume_id, or migration_id and purpose, to say which volume to act on.")
        found = find_volumes(self.client, migration_filters(self.params["migration_id"], self.params["purpose"],
                                                            self.params["source_device_name"]))
        if len(found) > 1:
            ids = ", ".join(sorted(v["VolumeId"] for v in found))
            raise Pv2hvmError(
                f"Migration {self.params['migration_id']} has {len(found)} {self.params['purpose']} volumes ({ids}); expected one. "
                "Delete the extra ones (state: absent with volume_id) and run again."
            )
        return found[0] if found else None

    def refresh(self) -> None:
        if self.volume is not None:
            self.volume = get_volume(self.client, self.volume["VolumeId"])

    # ---- present -------------------------------------------------------------------
    def ensure_present(self) -> None:
        instance = self.worker()
        self.volume = self.find()
        if self.volume is None:
            self.create(instance)
        else:
            self.check_matches(self.volume, instance)
        if instance is not None:
            self.ensure_attached(instance)

    def worker(self) -> Optional[Dict[str, Any]]:
        instance_id = self.params["instance_id"]
        if not instance_id:
            return None
        instance = get_instance(self.client, instance_id)
        if instance is None or instance.get("State", {}).get("Name") in ("shutting-down", "terminated"):
            raise Pv2hvmError(f"Worker instance {instance_id} was not found (or is terminated). Check instance_id and the region.")
        return instance

    def requested_zone(self, instance: Optional[Dict[str, Any]]) -> str:
        zone = self.params["availability_zone"]
        worker_zone = instance["Placement"]["AvailabilityZone"] if instance else None
        if zone and worker_zone and zone != worker_zone:
            raise Pv2hvmError(
                f"availability_zone {zone} is not the worker's ({instance['InstanceId']} is in {worker_zone}); a volume can only be "
                f"attached in its own Availability Zone. Stage the copy in the worker's AZ: availability_zone: {worker_zone}."
            )
        if not (zone or worker_zone):
            raise Pv2hvmError("Say where to create the volume: give availability_zone, or instance_id to use the worker's zone.")
        return zone or worker_zone

    def create_request(self, instance: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        params = self.params
        if not (params["migration_id"] and params["purpose"]):
            raise Pv2hvmError("Creating a volume needs migration_id and purpose (they tag it, so a re-run finds it).")
        request: Dict[str, Any] = {"AvailabilityZone": self.requested_zone(instance), "VolumeType": params["volume_type"]}
        if params["snapshot_id"]:
            snapshot = get_snapshot(self.client, params["snapshot_id"])
            if snapshot is None:
                raise Pv2hvmError(f"Snapshot {params['snapshot_id']} does not exist (or is not visible to this account in this region).")
            if params["size"] is not None and params["size"] < snapshot["VolumeSize"]:
                raise Pv2hvmError(
                    f"size {params['size']} GiB is smaller than snapshot {params['snapshot_id']} ({snapshot['VolumeSize']} GiB). "
                    f"Use at least {snapshot['VolumeSize']}, or leave size out to match the snapshot."
                )
            request["SnapshotId"] = params["snapshot_id"]
            request["Size"] = params["size"] or snapshot["VolumeSize"]
            encrypted = params["encrypted"] if params["encrypted"] is not None else bool(snapshot.get("Encrypted"))
            kms_key_id = params["kms_key_id"] or (snapshot.get("KmsKeyId") if encrypted else None)
        else:
            if not params["size"]:
                raise Pv2hvmError("An empty volume needs a size in GiB (or give snapshot_id to copy a snapshot).")
            request["Size"] = params["size"]
            encrypted, kms_key_id = params["encrypted"], params["kms_key_id"]
        if encrypted is not None:
            request["Encrypted"] = encrypted
        if kms_key_id:
            request["KmsKeyId"] = kms_key_id
        if params["iops"]:
            request["Iops"] = params["iops"]
        if params["throughput"]:
            request["Throughput"] = params["throughput"]
        tags = migration_tags(params["migration_id"], params["purpose"], params["tags"])
        name = f"pv2hvm {params['migration_id']} {params['purpose']}"
        if params["source_device_name"]:
            tags[TAG_SOURCE_DEVICE] = params["source_device_name"]
            name += f" {params['source_device_name']}"
        tags.setdefault("Name", name)
        request["TagSpecifications"] = tag_specifications("volume", tags)
        return request

    def create(self, instance: Optional[Dict[str, Any]]) -> None:
        request = self.create_request(instance)
        self.changed = True
        self.created = True
        if self.module.check_mode:
            self.plan = request
            return
        created = create_volume(self.client, **request)
        wait_for(self.client, "volume_available", self.params["wait_timeout"], VolumeIds=[created["VolumeId"]])
        self.volume = get_volume(self.client, created["VolumeId"])

    def check_matches(self, volume: Dict[str, Any], instance: Optional[Dict[str, Any]]) -> None:
        """A re-run must not silently use a volume that differs from what was asked for."""
        params = self.params
        problems = []
        if params["snapshot_id"] and volume.get("SnapshotId") != params["snapshot_id"]:
            problems.append(f"it was created from {volume.get('SnapshotId') or 'no snapshot'}, not {params['snapshot_id']}")
        if params["size"] and volume["Size"] < params["size"]:
            problems.append(f"it has {volume['Size']} GiB, not {params['size']}")
        if instance and volume["AvailabilityZone"] != instance["Placement"]["AvailabilityZone"]:
            problems.append(
                f"it is in {volume['AvailabilityZone']}, not in the worker's AZ {instance['Placement']['AvailabilityZone']}, so it cannot be "
                "attached there (stage the copy in the worker's AZ)"
            )
        elif params["availability_zone"] and volume["AvailabilityZone"] != params["availability_zone"]:
            problems.append(f"it is in {volume['AvailabilityZone']}, not {params['availability_zone']}")
        if problems:
            raise Pv2hvmError(
                f"Volume {volume['VolumeId']} already exists for this migration but {'; '.join(problems)}. "
                "Delete it (state: absent) to stage it again, or use a new migration_id."
            )

    def ensure_attached(self, instance: Dict[str, Any]) -> None:
        if self.volume is None:  # check mode, not created
            return
        attachment = current_attachment(self.volume)
        if attachment:
            if attachment["InstanceId"] == instance["InstanceId"]:
                return
            raise Pv2hvmError(
                f"Volume {self.volume['VolumeId']} is attached to {attachment['InstanceId']}, not the worker {instance['InstanceId']}. "
                "Detach it there (state: detached) first."
            )
        if self.volume["AvailabilityZone"] != instance["Placement"]["AvailabilityZone"]:
            raise Pv2hvmError(
                f"Volume {self.volume['VolumeId']} is in {self.volume['AvailabilityZone']} but the worker {instance['InstanceId']} is in "
                f"{instance['Placement']['AvailabilityZone']}. Stage the copy in the worker's AZ: recreate it with "
                f"availability_zone: {instance['Placement']['AvailabilityZone']} (a snapshot can be restored in any AZ of the region)."
            )
        self.changed = True
        if self.module.check_mode:
            return
        self.attach(instance)
        wait_for(self.client, "volume_attached", self.params["wait_timeout"], VolumeIds=[self.volume["VolumeId"]])
        self.refresh()

    def attach(self, instance: Dict[str, Any]) -> None:
        """Try the asked-for device, or each free slot in turn: a parallel migration may take one first."""
        candidates = [self.params["device_name"]] if self.params["device_name"] else free_slots(instance)
        for device_name in candidates:
            try:
                attach_volume(self.client, self.volume["VolumeId"], instance["InstanceId"], device_name)
                return
            except botocore.exceptions.ClientError as error:
                if error_code(error) == "InvalidVolume.ZoneMismatch":
                    raise Pv2hvmError(
                        f"AWS refused to attach {self.volume['VolumeId']} to {instance['InstanceId']}: they are in different "
                        "Availability Zones. Stage the copy in the worker's AZ."
                    ) from error
                if not device_in_use(error) or self.params["device_name"]:
                    raise
        raise Pv2hvmError(
            f"Worker {instance['InstanceId']} has no free device name left in {ATTACH_SLOTS[0]}..{ATTACH_SLOTS[-1]}. "
            "Detach volumes of finished migrations (state: detached), or run fewer migrations at once on this worker."
        )

    # ---- detached / absent ---------------------------------------------------------
    def ensure_detached(self) -> None:
        self.volume = self.find()
        if self.volume is None or not current_attachment(self.volume):
            return
        self.detach()

    def detach(self) -> None:
        attachment = current_attachment(self.volume)
        self.changed = True
        if self.module.check_mode:
            return
        detach_volume(self.client, self.volume["VolumeId"], attachment["InstanceId"])
        wait_for(self.client, "volume_available", self.params["wait_timeout"], VolumeIds=[self.volume["VolumeId"]])
        self.refresh()

    def ensure_absent(self) -> None:
        self.volume = self.find()
        if self.volume is None:
            return
        tags = boto3_tag_list_to_ansible_dict(self.volume.get("Tags", []))
        if not is_ours(tags) and not self.params["force"]:
            raise Pv2hvmError(
                f"Volume {self.volume['VolumeId']} was not created by cloudops.pv2hvm (it has no pv2hvm:migration tag), so it is "
                "not deleted. If you really mean to delete it, set force: true."
            )
        if current_attachment(self.volume):
            self.detach()
        self.changed = True
        if self.module.check_mode:
            return
        delete_volume(self.client, self.volume["VolumeId"])
        wait_for(self.client, "volume_deleted", self.params["wait_timeout"], VolumeIds=[self.volume["VolumeId"]])
        self.volume = None

    # ---- result --------------------------------------------------------------------
    def result(self) -> Dict[str, Any]:
        if self.volume is None:
            result: Dict[str, Any] = {"volume_id": "", "device_name": "", "attachment_state": "detached", "volume": {}, "created": self.created}
            if self.plan:
                result["msg"] = f"would create a {self.plan['Size']} GiB {self.plan['VolumeType']} volume in {self.plan['AvailabilityZone']}"
            return result
        attachment = current_attachment(self.volume)
        volume = camel_dict_to_snake_dict(self.volume)
        volume["tags"] = boto3_tag_list_to_ansible_dict(self.volume.get("Tags", []))
        return {
            "volume_id": self.volume["VolumeId"],
            "device_name": attachment["Device"] if attachment else "",
            "attachment_state": "attached" if attachment else "detached",
            "volume": volume,
            "created": self.created,
        }


def current_attachment(volume: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    attachments = [a for a in volume.get("Attachments", []) if a.get("State") in ("attaching", "attached", "busy")]
    return attachments[0] if attachments else None


def free_slots(instance: Dict[str, Any]) -> List[str]:
    used = {mapping["DeviceName"] for mapping in instance.get("BlockDeviceMappings", [])}
    # /dev/sdX and /dev/xvdX are the same slot on Xen instances.
    used |= {name.replace("/dev/xvd", "/dev/sd") for name in used}
    return [slot for slot in ATTACH_SLOTS if slot not in used]


def device_in_use(error: Exception) -> bool:
    return error_code(error) == "InvalidParameterValue" and "already in use" in str(error)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "detached", "absent"], default="present"),
            migration_id=dict(type="str"),
            purpose=dict(type="str", choices=["working-copy", "destination", "data-copy"]),
            source_device_name=dict(type="str"),
            volume_id=dict(type="str"),
            snapshot_id=dict(type="str"),
            size=dict(type="int"),
            availability_zone=dict(type="str"),
            volume_type=dict(type="str", default="gp3", choices=["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]),
            iops=dict(type="int"),
            throughput=dict(type="int"),
            encrypted=dict(type="bool"),
            kms_key_id=dict(type="str"),
            tags=dict(type="dict", default={}),
            instance_id=dict(type="str"),
            device_name=dict(type="str"),
            force=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=600),
        ),
        required_together=[("migration_id", "purpose")],
        supports_check_mode=True,
    )
    if (module.params["purpose"] == "data-copy") != bool(module.params["source_device_name"]):
        module.fail_json(msg="source_device_name goes with purpose=data-copy, and a data copy needs it: give the source's device name "
                             "(e.g. /dev/sdf) of the data volume the copy is made from.")
    if module.params["device_name"] and not module.params["instance_id"]:
        module.fail_json(msg="device_name only makes sense with instance_id (the instance to attach to).")
    if module.params["size"] is not None and module.params["size"] < 1:
        module.fail_json(msg=f"size must be a positive number of GiB, got {module.params['size']}.")
    staging = StagingVolume(module, ec2_client(module))
    try:
        {"present": staging.ensure_present, "detached": staging.ensure_detached, "absent": staging.ensure_absent}[module.params["state"]]()
    except Pv2hvmError as error:
        module.fail_json(msg=str(error), **staging.result())
    except WaitTimeout as error:
        module.fail_json(msg=f"{error}. The volume may still get there; run the task again to continue.", **staging.result())
    except botocore.exceptions.ClientError as error:
        fail_aws(module, error, f"EC2 refused a volume operation (state {module.params['state']})")
    except botocore.exceptions.BotoCoreError as error:
        fail_aws(module, error, f"EC2 could not be reached for a volume operation (state {module.params['state']}); "
                                "check the endpoint and the network, then run the task again")
    module.exit_json(changed=staging.changed, **staging.result())


if __name__ == "__main__":
    main()
