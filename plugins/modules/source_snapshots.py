#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: source_snapshots
version_added: 0.1.0
short_description: Snapshot the EBS volumes of a PV source for its migration, and nothing more
description:
  - The only thing a migration ever does to its source - for an instance, it snapshots the root volume
    and every EBS data volume (tagged C(pv2hvm:migration), the root's C(pv2hvm:purpose=working-copy) as it
    is only needed to make the working copy, the data volumes' C(pv2hvm:purpose=image) as they become part of
    the HVM AMI); for an AMI, it returns the AMI's own snapshots and creates nothing.
  - Snapshots of a running instance are crash-consistent, each volume on its own. With O(stop_source=true)
    a running instance is stopped for the snapshots and started again once they have been taken.
  - A re-run finds the snapshots it took by their tags and takes no new ones.
author:
  - cloudops maintainers (@cloudops)
options:
  instance_id:
    description:
      - The source instance. Exactly one of O(instance_id) and O(image_id) is required.
    type: str
  image_id:
    description:
      - The source AMI. Exactly one of O(instance_id) and O(image_id) is required.
    type: str
  migration_id:
    description:
      - The migration the snapshots belong to; tagged as C(pv2hvm:migration).
    type: str
    required: true
  stop_source:
    description:
      - Stop a running source instance while its volumes are snapshotted, then start it again.
      - Without it the snapshots are crash-consistent, like pulling the power cord, and the module warns.
    type: bool
    default: false
  tags:
    description:
      - Extra tags for the snapshots. The C(pv2hvm:) tags are always set and win over these.
    type: dict
    default: {}
  wait_timeout:
    description:
      - How many seconds to wait for the snapshots to complete (and for a stopped source to stop or start).
    type: int
    default: 3600
notes:
  - Supports check mode, which reports the volumes it would snapshot.
seealso:
  - module: cloudops.pv2hvm.source_info
  - module: cloudops.pv2hvm.volume
  - module: cloudops.pv2hvm.hvm_image
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Snapshot the source instance (stopping it briefly for consistent snapshots)
  cloudops.pv2hvm.source_snapshots:
    instance_id: i-0123456789abcdef0
    migration_id: "{{ pv2hvm_migration_id }}"
    stop_source: true
  register: pv2hvm_snapshots

- name: Make the working copy of the root from its snapshot
  cloudops.pv2hvm.volume:
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: working-copy
    snapshot_id: "{{ pv2hvm_snapshots.root_snapshot_id }}"
    instance_id: "{{ pv2hvm_worker_instance_id }}"

- name: Register the converted root with the source's data volumes
  cloudops.pv2hvm.hvm_image:
    migration_id: "{{ pv2hvm_migration_id }}"
    volume_id: "{{ pv2hvm_destination.volume_id }}"
    name: legacy-web-hvm
    architecture: x86_64
    block_device_mappings: "{{ pv2hvm_snapshots.hvm_block_device_mappings }}"
"""

RETURN = r"""
created_ids:
  description:
    - The snapshots this run had EC2 make before it failed (e.g. when EC2 stopped answering while they completed); they
      are tagged with O(migration_id) and reused by the next run.
  returned: failure
  type: list
  elements: str
  sample: [snap-0123456789abcdef0]
root_snapshot_id:
  description: The snapshot of the source's root device (empty in check mode before it exists).
  returned: always
  type: str
  sample: snap-0123456789abcdef0
root_volume_size:
  description: Size in GiB of the source's root volume or snapshot.
  returned: always
  type: int
  sample: 8
snapshots:
  description: Every snapshot of the source, by device, root first.
  returned: always
  type: list
  elements: dict
  sample:
    - {"device_name": "/dev/sda1", "snapshot_id": "snap-0123", "volume_id": "vol-0123", "is_root": true, "created": true}
hvm_block_device_mappings:
  description:
    - The source's non-root mappings with snapshot IDs, ready for the
      O(cloudops.pv2hvm.hvm_image#module:block_device_mappings) option (data volumes and instance-store names).
  returned: always
  type: list
  elements: dict
  sample:
    - {"device_name": "/dev/sdf", "snapshot_id": "snap-0456", "delete_on_termination": false}
    - {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"}
source_stopped:
  description: Whether the module stopped (and restarted) the source instance.
  returned: always
  type: bool
"""

from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import create_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_snapshots
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_instance
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_volumes
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import start_instance
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import stop_instance
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_filters
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_tags
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import tag_specifications
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import WaitTimeout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import wait_for


def purpose_of(is_root: bool) -> str:
    # The root's snapshot only feeds the working copy; data snapshots end up in the HVM AMI.
    return "working-copy" if is_root else "image"


class SourceSnapshots:
    def __init__(self, module: AnsibleAWSModule, client: Any) -> None:
        self.module = module
        self.client = client
        self.params = module.params
        self.changed = False
        self.stopped = False
        self.taken: List[str] = []  # made by this run, for the failure result

    def from_image(self, image_id: str) -> Dict[str, Any]:
        image = get_image(self.client, image_id)
        if image is None:
            raise Pv2hvmError(f"AMI {image_id} was not found in this region. Check the ID and that it is shared with this account.")
        snapshots, mappings, root_size = [], [], 0
        for mapping in image.get("BlockDeviceMappings", []):
            is_root = mapping["DeviceName"] == image.get("RootDeviceName")
            ebs = mapping.get("Ebs")
            if ebs and ebs.get("SnapshotId"):
                snapshots.append({"device_name": mapping["DeviceName"], "snapshot_id": ebs["SnapshotId"], "is_root": is_root, "created": False})
                if is_root:
                    root_size = ebs.get("VolumeSize", 0)
                    continue
            if not is_root:
                mappings.append(image_mapping(mapping))
        return self.result(snapshots, mappings, root_size)

    def from_instance(self, instance_id: str) -> Dict[str, Any]:
        instance = get_instance(self.client, instance_id)
        if instance is None or instance["State"]["Name"] in ("shutting-down", "terminated"):
            raise Pv2hvmError(f"Instance {instance_id} was not found (or is terminated). Check the ID and the region.")
        ebs_mappings = [m for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
        volumes = {v["VolumeId"]: v for v in get_volumes(self.client, [m["Ebs"]["VolumeId"] for m in ebs_mappings])}
        plan = []
        for mapping in ebs_mappings:
            is_root = mapping["DeviceName"] == instance.get("RootDeviceName")
            volume = volumes[mapping["Ebs"]["VolumeId"]]
            plan.append((mapping, volume, is_root, self.existing(volume["VolumeId"], is_root)))
        missing = [entry for entry in plan if entry[3] is None]
        if missing:
            self.changed = True
            if not self.module.check_mode:
                self.take(instance, missing)
        snapshots, mappings, root_size = [], [], 0
        for mapping, volume, is_root, existing in plan:
            snapshot = existing or self.existing(volume["VolumeId"], is_root)
            snapshots.append({
                "device_name": mapping["DeviceName"], "snapshot_id": snapshot["SnapshotId"] if snapshot else "",
                "volume_id": volume["VolumeId"], "is_root": is_root, "created": existing is None,
            })
            if is_root:
                root_size = volume["Size"]
            else:
                mappings.append({
                    "device_name": mapping["DeviceName"], "snapshot_id": snapshot["SnapshotId"] if snapshot else "",
                    "volume_type": volume.get("VolumeType"), "delete_on_termination": bool(mapping["Ebs"].get("DeleteOnTermination")),
                })
        mappings += self.ephemeral_mappings(instance)
        return self.result(sorted(snapshots, key=lambda s: not s["is_root"]), mappings, root_size)

    def existing(self, volume_id: str, is_root: bool) -> Optional[Dict[str, Any]]:
        filters = migration_filters(self.params["migration_id"], purpose_of(is_root)) + [{"Name": "volume-id", "Values": [volume_id]}]
        snapshots = sorted(find_own_snapshots(self.client, filters), key=lambda s: s["StartTime"], reverse=True)
        return snapshots[0] if snapshots else None

    def take(self, instance: Dict[str, Any], missing: List[Any]) -> None:
        was_running = instance["State"]["Name"] in ("pending", "running")
        if self.params["stop_source"] and was_running:
            stop_instance(self.client, instance["InstanceId"])
            wait_for(self.client, "instance_stopped", self.params["wait_timeout"], InstanceIds=[instance["InstanceId"]])
            self.stopped = True
        elif was_running:
            self.module.warn(
                f"{instance['InstanceId']} is running: its snapshots are crash-consistent (like a power cut). "
                "Set stop_source: true (pv2hvm_stop_source) for consistent snapshots."
            )
        try:
            taken = self.taken
            for mapping, volume, is_root, _existing in missing:
                tags = migration_tags(self.params["migration_id"], purpose_of(is_root), self.params["tags"])
                tags.setdefault("Name", f"pv2hvm {self.params['migration_id']} {mapping['DeviceName']} of {instance['InstanceId']}")
                description = f"pv2hvm {self.params['migration_id']}: {mapping['DeviceName']} of {instance['InstanceId']}"
                taken.append(create_snapshot(self.client, volume["VolumeId"], description, tag_specifications("snapshot", tags))["SnapshotId"])
            if self.stopped:
                # A snapshot is point-in-time once started; the instance need not wait for completion.
                start_instance(self.client, instance["InstanceId"])
            wait_for(self.client, "snapshot_completed", self.params["wait_timeout"], SnapshotIds=taken)
        except BaseException:
            if self.stopped:
                start_instance(self.client, instance["InstanceId"])
            raise

    def ephemeral_mappings(self, instance: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Instance-store names live only in the AMI the instance came from."""
        image = get_image(self.client, instance["ImageId"]) if instance.get("ImageId") else None
        if not image:
            return []
        return [image_mapping(m) for m in image.get("BlockDeviceMappings", []) if m.get("VirtualName")]

    def result(self, snapshots: List[Dict[str, Any]], mappings: List[Dict[str, Any]], root_size: int) -> Dict[str, Any]:
        root = next((s for s in snapshots if s["is_root"]), None)
        if root is None:
            raise Pv2hvmError("The source has no EBS root device to snapshot (instance-store root?). See cloudops.pv2hvm.source_info.")
        return {
            "root_snapshot_id": root["snapshot_id"],
            "root_volume_size": root_size,
            "snapshots": snapshots,
            "hvm_block_device_mappings": mappings,
            "source_stopped": self.stopped,
        }


def image_mapping(mapping: Dict[str, Any]) -> Dict[str, Any]:
    if mapping.get("VirtualName"):
        return {"device_name": mapping["DeviceName"], "virtual_name": mapping["VirtualName"]}
    ebs = mapping.get("Ebs", {})
    entry = {"device_name": mapping["DeviceName"], "snapshot_id": ebs.get("SnapshotId"), "delete_on_termination": bool(ebs.get("DeleteOnTermination"))}
    for ours, aws in (("volume_size", "VolumeSize"), ("volume_type", "VolumeType"), ("iops", "Iops"), ("throughput", "Throughput")):
        if ebs.get(aws):
            entry[ours] = ebs[aws]
    return entry


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_id=dict(type="str"),
            image_id=dict(type="str"),
            migration_id=dict(type="str", required=True),
            stop_source=dict(type="bool", default=False),
            tags=dict(type="dict", default={}),
            wait_timeout=dict(type="int", default=3600),
        ),
        mutually_exclusive=[("instance_id", "image_id")],
        required_one_of=[("instance_id", "image_id")],
        supports_check_mode=True,
    )
    snapshots = SourceSnapshots(module, ec2_client(module))
    try:
        if module.params["instance_id"]:
            result = snapshots.from_instance(module.params["instance_id"])
        else:
            result = snapshots.from_image(module.params["image_id"])
    except Pv2hvmError as error:
        module.fail_json(msg=str(error))
    except WaitTimeout as error:
        module.fail_json(msg=f"{error}. Run the task again to continue; the snapshots already taken are reused.", created_ids=snapshots.taken)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        fail_aws(module, error, "Could not snapshot the migration source", created_ids=snapshots.taken)
    module.exit_json(changed=snapshots.changed, **result)


if __name__ == "__main__":
    main()
