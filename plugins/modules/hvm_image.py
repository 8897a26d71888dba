#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: hvm_image
version_added: 0.1.0
short_description: Snapshot a converted root volume and register it as an HVM AMI
description:
  - Takes the C(destination) volume of a PV to HVM migration, after the worker has converted it, snapshots
    it (tagged, waiting for completion) and registers an AMI with C(VirtualizationType=hvm), the given
    architecture and root device name, the root mapping, any extra mappings (data-volume snapshots,
    instance-store names), the ENA and SR-IOV flags as given, and C(BootMode=legacy-bios); it waits until
    the AMI is C(available).
  - Idempotent - an AMI of that name that this migration registered is returned unchanged, and so is the AMI
    this migration registered under another name (one migration, one AMI). An AMI of that name from anywhere
    else is an error, reported before any snapshot is made.
  - O(state=absent) deregisters the AMI and deletes those of its snapshots that this collection tagged, and only
    those.
author:
  - cloudops maintainers (@cloudops)
options:
  state:
    description:
      - V(present) registers the AMI (if this migration has not already), V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The AMI name. Required with O(state=present).
      - With O(state=absent), finds the AMI when O(image_id) is not given.
    type: str
  image_id:
    description:
      - With O(state=absent), the AMI to remove.
    type: str
  migration_id:
    description:
      - The migration this AMI belongs to; tagged as C(pv2hvm:migration) on the AMI and its snapshot.
      - Required with O(state=present).
    type: str
  volume_id:
    description:
      - The converted destination volume to snapshot for the root device.
      - With O(state=present), exactly one of O(volume_id) and O(snapshot_id) is required.
      - Detach it from the worker first, so that the snapshot is consistent.
    type: str
  snapshot_id:
    description:
      - A completed snapshot of the converted root to register as is, in place of O(volume_id) - for example
        the one M(cloudops.pv2hvm.snapshot_upload) made with the EBS direct APIs. It is not copied.
    type: str
    version_added: 0.2.0
  description:
    description:
      - The AMI description.
    type: str
    default: ""
  architecture:
    description:
      - The AMI architecture. Required with O(state=present) - AWS would otherwise default to V(i386).
      - Use the RV(cloudops.pv2hvm.source_info#module:architecture) of the source.
    type: str
    choices: [i386, x86_64, arm64]
  root_device_name:
    description:
      - The root device name of the HVM AMI.
    type: str
    default: /dev/xvda
  root_volume_type:
    description:
      - The volume type of the root mapping.
    type: str
    default: gp3
    choices: [gp2, gp3, io1, io2, st1, sc1, standard]
  root_volume_size:
    description:
      - The root volume size in GiB. Defaults to the snapshot's size.
    type: int
  delete_on_termination:
    description:
      - Whether instances delete the root volume when they terminate.
    type: bool
    default: true
  block_device_mappings:
    description:
      - Extra mappings registered as given - data-volume snapshots of the source and instance-store names.
      - Do not list the root device here; it always comes from O(volume_id) or O(snapshot_id).
    type: list
    elements: dict
    default: []
    suboptions:
      device_name:
        description: The device name, e.g. V(/dev/sdf).
        type: str
        required: true
      snapshot_id:
        description: The snapshot of an EBS data volume.
        type: str
      volume_id:
        description:
          - An EBS volume to snapshot for this device, such as a data volume of the source instance.
          - The snapshot is tagged like the root's and reused when the task runs again; the volume is only read.
        type: str
      volume_size:
        description: Size in GiB, defaults to the snapshot's.
        type: int
      volume_type:
        description: The EBS volume type.
        type: str
      delete_on_termination:
        description: Whether instances delete this volume when they terminate.
        type: bool
      iops:
        description: Provisioned IOPS.
        type: int
      throughput:
        description: Provisioned throughput in MiB/s.
        type: int
      virtual_name:
        description: An instance-store name such as V(ephemeral0) instead of an EBS volume.
        type: str
      no_device:
        description: Suppress this device of the AMI.
        type: bool
  ena_support:
    description:
      - Register the AMI with ENA enabled. Only do so when the image has the ENA driver
        (see the C(boot_config_readiness) fact of the M(cloudops.pv2hvm.boot_config) role).
    type: bool
    default: false
  sriov_net_support:
    description:
      - V(simple) enables Intel 82599 VF enhanced networking; leave unset otherwise.
    type: str
    choices: [simple]
  boot_mode:
    description:
      - The firmware the AMI boots with. The converted disk has an MBR boot loader.
    type: str
    default: legacy-bios
    choices: [legacy-bios, uefi, uefi-preferred]
  tags:
    description:
      - Extra tags for the AMI and its snapshot. The C(pv2hvm:) tags are always set and win over these.
    type: dict
    default: {}
  force:
    description:
      - Allow O(state=absent) to deregister an AMI this collection did not register. Its untagged snapshots
        are still kept.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait for the snapshot to complete, and again for the AMI to become available.
    type: int
    default: 3600
notes:
  - Supports check mode, which validates the request and reports what would be snapshotted and registered.
seealso:
  - module: cloudops.pv2hvm.volume
  - module: cloudops.pv2hvm.source_info
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Register the converted destination as an HVM AMI, keeping the source's data volumes
  cloudops.pv2hvm.hvm_image:
    migration_id: "{{ pv2hvm_migration_id }}"
    volume_id: "{{ pv2hvm_destination.volume_id }}"
    name: "{{ pv2hvm_source.name }}-hvm-{{ '%Y%m%d' | strftime }}"
    description: "HVM conversion of {{ pv2hvm_source.id }}"
    architecture: "{{ pv2hvm_source.architecture }}"
    ena_support: "{{ boot_config_readiness.ena_module }}"
    block_device_mappings:
      - device_name: /dev/sdf
        snapshot_id: "{{ pv2hvm_data_snapshot_id }}"
        delete_on_termination: false
      - device_name: /dev/sdb
        virtual_name: ephemeral0
  register: pv2hvm_image

- name: Remove a test AMI and the snapshot this migration made for it
  cloudops.pv2hvm.hvm_image:
    state: absent
    image_id: "{{ pv2hvm_image.image_id }}"
"""

RETURN = r"""
image_id:
  description: The AMI ID (empty when there is none, e.g. in check mode or after O(state=absent)).
  returned: always
  type: str
  sample: ami-0123456789abcdef0
snapshot_id:
  description: The root snapshot - made from O(volume_id), or O(snapshot_id) as given.
  returned: when O(state=present)
  type: str
  sample: snap-0123456789abcdef0
image:
  description: The AMI as EC2 describes it, in snake_case.
  returned: when O(state=present) and not in check mode
  type: dict
  contains:
    image_id:
      description: The AMI ID.
      type: str
    name:
      description: The AMI name.
      type: str
    architecture:
      description: The architecture.
      type: str
    virtualization_type:
      description: Always V(hvm).
      type: str
    root_device_name:
      description: The root device name.
      type: str
    block_device_mappings:
      description: Its block device mappings.
      type: list
    ena_support:
      description: Whether ENA is enabled.
      type: bool
    boot_mode:
      description: The boot mode.
      type: str
    tags:
      description: Its tags, as a dict.
      type: dict
deleted_snapshot_ids:
  description: Snapshots deleted with the AMI (those this collection tagged).
  returned: when O(state=absent)
  type: list
  elements: str
kept_snapshot_ids:
  description: Snapshots of the AMI that were kept because this collection did not create them.
  returned: when O(state=absent)
  type: list
  elements: str
"""

from typing import Any, Dict, List, Optional, Tuple

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import create_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import delete_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import deregister_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_images
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_snapshots
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import register_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_MIGRATION
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import is_ours
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_filters
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_tags
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import tag_specifications
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import WaitTimeout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import wait_for


def extra_mapping(option: Dict[str, Any]) -> Dict[str, Any]:
    """One block_device_mappings entry in RegisterImage's format, passed through as given."""
    mapping: Dict[str, Any] = {"DeviceName": option["device_name"]}
    if option.get("no_device"):
        mapping["NoDevice"] = ""
        return mapping
    if option.get("virtual_name"):
        mapping["VirtualName"] = option["virtual_name"]
        return mapping
    ebs_keys = {
        "snapshot_id": "SnapshotId", "volume_size": "VolumeSize", "volume_type": "VolumeType",
        "delete_on_termination": "DeleteOnTermination", "iops": "Iops", "throughput": "Throughput",
    }
    # A mapping given by volume_id gets the SnapshotId of the snapshot taken of that volume.
    mapping["Ebs"] = {aws: option[ours] for ours, aws in ebs_keys.items() if option.get(ours) is not None}
    return mapping


class HvmImage:
    def __init__(self, module: AnsibleAWSModule, client: Any) -> None:
        self.module = module
        self.client = client
        self.params = module.params
        self.changed = False
        self.result: Dict[str, Any] = {"image_id": ""}

    # ---- present -------------------------------------------------------------------
    def ensure_present(self) -> None:
        params = self.params
        existing = self.image_by_name(params["name"])
        if existing is not None:
            tags = boto3_tag_list_to_ansible_dict(existing.get("Tags", []))
            if tags.get(TAG_MIGRATION) != params["migration_id"]:
                owner = f"migration {tags[TAG_MIGRATION]}" if is_ours(tags) else "something other than cloudops.pv2hvm"
                raise Pv2hvmError(
                    f"An AMI named {params['name']!r} already exists ({existing['ImageId']}, registered by {owner}). "
                    "Choose another name, or deregister that AMI first. No snapshot was made."
                )
            self.describe(existing)
            return
        registered = self.image_of_migration()
        if registered is not None:
            # One migration, one AMI: a re-run on another day (a new default name) finds it too.
            self.module.warn(f"Migration {params['migration_id']} already registered {registered['ImageId']} as {registered.get('Name')!r}; returning it.")
            self.describe(registered)
            return
        mappings = self.validated_extra_mappings()
        # Every volume to snapshot, by device: the converted root (unless its snapshot is given), and any data
        # volume given by volume_id.
        volumes = {params["root_device_name"]: self.volume(params["volume_id"], "Destination volume")} if params["volume_id"] else {}
        volumes.update({device: self.volume(volume_id, f"Volume of {device}") for device, volume_id in self.mapped_volumes().items()})
        snapshots = {device: self.existing_snapshot(volume["VolumeId"]) for device, volume in volumes.items()}
        if params["snapshot_id"]:
            snapshots[params["root_device_name"]] = self.given_root_snapshot(params["snapshot_id"])
        self.changed = True
        if self.module.check_mode:
            root = snapshots[params["root_device_name"]]
            self.result.update(snapshot_id=root["SnapshotId"] if root else "", msg=self.plan(volumes, snapshots))
            return
        for device, volume in volumes.items():
            snapshots[device] = snapshots[device] or self.snapshot(volume, device)
        wait_for(self.client, "snapshot_completed", params["wait_timeout"], SnapshotIds=[s["SnapshotId"] for s in snapshots.values()])
        for mapping in mappings:
            if mapping["DeviceName"] in snapshots:
                mapping["Ebs"]["SnapshotId"] = snapshots[mapping["DeviceName"]]["SnapshotId"]
        image_id = register_image(self.client, **self.register_request(snapshots[params["root_device_name"]], mappings))
        wait_for(self.client, "image_available", params["wait_timeout"], ImageIds=[image_id])
        self.describe(get_image(self.client, image_id))

    def given_root_snapshot(self, snapshot_id: str) -> Dict[str, Any]:
        snapshot = get_snapshot(self.client, snapshot_id)
        if snapshot is None or snapshot["State"] not in ("pending", "completed"):
            state = "does not exist" if snapshot is None else f"is {snapshot['State']}"
            raise Pv2hvmError(f"Root snapshot {snapshot_id} {state}: give a completed snapshot of the converted root. Nothing was registered.")
        return snapshot

    def volume(self, volume_id: str, what: str) -> Dict[str, Any]:
        volume = get_volume(self.client, volume_id)
        if volume is None:
            raise Pv2hvmError(f"{what} {volume_id} does not exist. No snapshot was made; check the volume ID.")
        if volume.get("Attachments") and volume_id == self.params["volume_id"]:
            self.module.warn(
                f"Volume {volume_id} is still attached to {volume['Attachments'][0]['InstanceId']}; detach it before "
                "snapshotting so that the image is consistent."
            )
        return volume

    def mapped_volumes(self) -> Dict[str, str]:
        return {m["device_name"]: m["volume_id"] for m in self.params["block_device_mappings"] if m.get("volume_id")}

    def image_of_migration(self) -> Optional[Dict[str, Any]]:
        images = find_own_images(self.client, migration_filters(self.params["migration_id"], "image"))
        return images[0] if images else None

    def image_by_name(self, name: str) -> Optional[Dict[str, Any]]:
        images = find_own_images(self.client, [{"Name": "name", "Values": [name]}])
        images = [image for image in images if image.get("State") not in ("deregistered",)]
        return images[0] if images else None

    def validated_extra_mappings(self) -> List[Dict[str, Any]]:
        mappings = [extra_mapping(option) for option in self.params["block_device_mappings"]]
        for option, mapping in zip(self.params["block_device_mappings"], mappings):
            if mapping["DeviceName"] == self.params["root_device_name"]:
                raise Pv2hvmError(
                    f"block_device_mappings lists the root device {mapping['DeviceName']}; the root always comes from volume_id or snapshot_id. "
                    "Remove that entry."
                )
            sources = [key for key in ("snapshot_id", "volume_id", "virtual_name", "no_device") if option.get(key)]
            if len(sources) > 1:
                raise Pv2hvmError(f"Mapping {mapping['DeviceName']} has {' and '.join(sources)}; give only one of them.")
            snapshot_id = option.get("snapshot_id")
            if snapshot_id and get_snapshot(self.client, snapshot_id) is None:
                raise Pv2hvmError(f"Snapshot {snapshot_id} of block_device_mappings ({mapping['DeviceName']}) does not exist. No snapshot was made.")
            if not sources and not option.get("volume_size"):
                raise Pv2hvmError(f"Mapping {mapping['DeviceName']} needs a snapshot_id, a volume_id, a volume_size or a virtual_name.")
        return mappings

    def existing_snapshot(self, volume_id: str) -> Optional[Dict[str, Any]]:
        """A snapshot this migration already took of the volume (a run interrupted before RegisterImage)."""
        filters = migration_filters(self.params["migration_id"], "image") + [{"Name": "volume-id", "Values": [volume_id]}]
        snapshots = sorted(find_own_snapshots(self.client, filters), key=lambda s: s["StartTime"], reverse=True)
        return snapshots[0] if snapshots else None

    def tags(self) -> Dict[str, str]:
        tags = migration_tags(self.params["migration_id"], "image", self.params["tags"])
        tags.setdefault("Name", self.params["name"])
        return tags

    def snapshot(self, volume: Dict[str, Any], device: str) -> Dict[str, Any]:
        description = f"pv2hvm {self.params['migration_id']}: {device} of HVM AMI {self.params['name']}"
        return create_snapshot(self.client, volume["VolumeId"], description, tag_specifications("snapshot", self.tags()))

    def register_request(self, snapshot: Dict[str, Any], mappings: List[Dict[str, Any]]) -> Dict[str, Any]:
        params = self.params
        root_ebs: Dict[str, Any] = {
            "SnapshotId": snapshot["SnapshotId"],
            "VolumeType": params["root_volume_type"],
            "DeleteOnTermination": params["delete_on_termination"],
        }
        if params["root_volume_size"]:
            root_ebs["VolumeSize"] = params["root_volume_size"]
        request: Dict[str, Any] = {
            "Name": params["name"],
            "Architecture": params["architecture"],
            "VirtualizationType": "hvm",
            "RootDeviceName": params["root_device_name"],
            "BlockDeviceMappings": [{"DeviceName": params["root_device_name"], "Ebs": root_ebs}] + mappings,
            "EnaSupport": params["ena_support"],
            "BootMode": params["boot_mode"],
            "TagSpecifications": tag_specifications("image", self.tags()),
        }
        if params["description"]:
            request["Description"] = params["description"]
        if params["sriov_net_support"]:
            request["SriovNetSupport"] = params["sriov_net_support"]
        return request

    def plan(self, volumes: Dict[str, Dict[str, Any]], snapshots: Dict[str, Optional[Dict[str, Any]]]) -> str:
        steps = [
            f"reuse snapshot {snapshots[device]['SnapshotId']} for {device}" if snapshots[device]
            else f"snapshot {volume['VolumeId']} ({volume['Size']} GiB) for {device}"
            for device, volume in volumes.items()
        ]
        if self.params["snapshot_id"]:
            steps.insert(0, f"use snapshot {self.params['snapshot_id']} for {self.params['root_device_name']}")
        return (
            f"would {', '.join(steps)} and register HVM AMI {self.params['name']!r} "
            f"({self.params['architecture']}, root {self.params['root_device_name']})"
        )

    def describe(self, image: Dict[str, Any]) -> None:
        described = camel_dict_to_snake_dict(image)
        described["tags"] = boto3_tag_list_to_ansible_dict(image.get("Tags", []))
        root = next((m for m in image.get("BlockDeviceMappings", []) if m["DeviceName"] == image.get("RootDeviceName")), {})
        self.result.update(image_id=image["ImageId"], image=described, snapshot_id=root.get("Ebs", {}).get("SnapshotId", ""))

    # ---- absent --------------------------------------------------------------------
    def ensure_absent(self) -> None:
        params = self.params
        image = get_image(self.client, params["image_id"]) if params["image_id"] else self.image_by_name(params["name"])
        self.result.update(deleted_snapshot_ids=[], kept_snapshot_ids=[])
        if image is None:
            return
        tags = boto3_tag_list_to_ansible_dict(image.get("Tags", []))
        if not is_ours(tags) and not params["force"]:
            raise Pv2hvmError(
                f"AMI {image['ImageId']} ({image.get('Name')}) was not registered by cloudops.pv2hvm (no pv2hvm:migration tag), "
                "so it is left alone. Set force: true if you really mean to deregister it."
            )
        ours, kept = self.split_snapshots(image)
        self.changed = True
        self.result.update(image_id=image["ImageId"], deleted_snapshot_ids=ours, kept_snapshot_ids=kept)
        if self.module.check_mode:
            return
        deregister_image(self.client, image["ImageId"])
        for snapshot_id in ours:
            delete_snapshot(self.client, snapshot_id)
        self.result["image_id"] = ""

    def split_snapshots(self, image: Dict[str, Any]) -> Tuple[List[str], List[str]]:
        """The image's snapshots this collection tagged (to delete), and the others (to keep)."""
        ours: List[str] = []
        kept: List[str] = []
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot_id = mapping.get("Ebs", {}).get("SnapshotId")
            if not snapshot_id:
                continue
            snapshot = get_snapshot(self.client, snapshot_id)
            if snapshot is None:
                continue
            (ours if is_ours(boto3_tag_list_to_ansible_dict(snapshot.get("Tags", []))) else kept).append(snapshot_id)
        return ours, kept


def main() -> None:
    mapping_options = dict(
        device_name=dict(type="str", required=True),
        snapshot_id=dict(type="str"),
        volume_id=dict(type="str"),
        volume_size=dict(type="int"),
        volume_type=dict(type="str"),
        delete_on_termination=dict(type="bool"),
        iops=dict(type="int"),
        throughput=dict(type="int"),
        virtual_name=dict(type="str"),
        no_device=dict(type="bool"),
    )
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            name=dict(type="str"),
            image_id=dict(type="str"),
            migration_id=dict(type="str"),
            volume_id=dict(type="str"),
            snapshot_id=dict(type="str"),
            description=dict(type="str", default=""),
            architecture=dict(type="str", choices=["i386", "x86_64", "arm64"]),
            root_device_name=dict(type="str", default="/dev/xvda"),
            root_volume_type=dict(type="str", default="gp3", choices=["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]),
            root_volume_size=dict(type="int"),
            delete_on_termination=dict(type="bool", default=True),
            block_device_mappings=dict(type="list", elements="dict", options=mapping_options, default=[]),
            ena_support=dict(type="bool", default=False),
            sriov_net_support=dict(type="str", choices=["simple"]),
            boot_mode=dict(type="str", default="legacy-bios", choices=["legacy-bios", "uefi", "uefi-preferred"]),
            tags=dict(type="dict", default={}),
            force=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=3600),
        ),
        required_if=[
            ("state", "present", ("name", "migration_id", "architecture")),
            ("state", "present", ("volume_id", "snapshot_id"), True),
            ("state", "absent", ("image_id", "name"), True),
        ],
        mutually_exclusive=[("image_id", "volume_id"), ("volume_id", "snapshot_id")],
        supports_check_mode=True,
    )
    image = HvmImage(module, ec2_client(module))
    try:
        if module.params["state"] == "present":
            image.ensure_present()
        else:
            image.ensure_absent()
    except Pv2hvmError as error:
        module.fail_json(msg=str(error), **image.result)
    except WaitTimeout as error:
        module.fail_json(msg=f"{error}. Snapshots of large volumes take a while; run the task again to continue.", **image.result)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        fail_aws(module, error, f"EC2 refused an image operation (state {module.params['state']})")
    module.exit_json(changed=image.changed, **image.result)


if __name__ == "__main__":
    main()
