#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: source_info
version_added: 0.1.0
short_description: Inspect a paravirtual EC2 instance or AMI before converting it to HVM
description:
  - Describes the source of a PV to HVM migration, an EC2 instance or an AMI, and returns everything the
    migration needs to know about it - virtualization type, architecture, root device and its volume or
    snapshot, Availability Zone, kernel and ramdisk, every block device mapping, product codes, ENA,
    SR-IOV and boot mode, name and tags.
  - Fails with a message that says what to do when the source cannot or need not be converted - it is
    already HVM (unless O(allow_hvm=true)), its root device is instance store, it carries AWS Marketplace
    product codes, or it is Windows.
  - Read-only. It never changes the source.
author:
  - cloudops maintainers (@cloudops)
options:
  instance_id:
    description:
      - The EC2 instance to inspect.
      - Exactly one of O(instance_id) and O(image_id) is required.
    type: str
  image_id:
    description:
      - The AMI to inspect.
      - Exactly one of O(instance_id) and O(image_id) is required.
    type: str
  allow_hvm:
    description:
      - Return the facts of a source that is already HVM instead of failing.
    type: bool
    default: false
notes:
  - Supports check mode; the module never changes anything.
seealso:
  - module: cloudops.pv2hvm.volume
  - module: cloudops.pv2hvm.hvm_image
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Inspect the PV instance to migrate
  cloudops.pv2hvm.source_info:
    instance_id: i-0123456789abcdef0
  register: pv2hvm_source

- name: Inspect a PV AMI, e.g. before converting it without launching it
  cloudops.pv2hvm.source_info:
    image_id: ami-0123456789abcdef0
  register: pv2hvm_source

- name: Stage a working copy of the root in the worker's AZ, from the root snapshot of the AMI
  cloudops.pv2hvm.volume:
    snapshot_id: "{{ pv2hvm_source.root_snapshot.snapshot_id }}"
    instance_id: "{{ pv2hvm_worker_instance_id }}"
    migration_id: "{{ pv2hvm_migration_id }}"
    purpose: working-copy
"""

RETURN = r"""
source_type:
  description: Whether the source is an C(instance) or an C(image).
  returned: always
  type: str
  sample: instance
id:
  description: The instance or image ID that was inspected.
  returned: always
  type: str
  sample: i-0123456789abcdef0
name:
  description: The C(Name) tag of an instance, or the name of an image.
  returned: always
  type: str
  sample: legacy-web-01
tags:
  description: The source's tags.
  returned: always
  type: dict
  sample: {"Name": "legacy-web-01"}
virtualization_type:
  description: C(paravirtual) or C(hvm).
  returned: always
  type: str
  sample: paravirtual
architecture:
  description: C(x86_64), C(i386) or C(arm64). Pass it on to M(cloudops.pv2hvm.hvm_image).
  returned: always
  type: str
  sample: x86_64
root_device_name:
  description: The root device name of the source.
  returned: always
  type: str
  sample: /dev/sda1
root_device_type:
  description: C(ebs) or C(instance-store).
  returned: always
  type: str
  sample: ebs
root_volume:
  description: The root EBS volume of an instance source.
  returned: when O(instance_id) is given
  type: dict
  contains:
    volume_id:
      description: The volume ID.
      type: str
      sample: vol-0123456789abcdef0
    size:
      description: Size in GiB.
      type: int
      sample: 8
    volume_type:
      description: The EBS volume type.
      type: str
      sample: standard
    iops:
      description: Provisioned IOPS, if any.
      type: int
    throughput:
      description: Provisioned throughput in MiB/s, if any.
      type: int
    encrypted:
      description: Whether the volume is encrypted.
      type: bool
    kms_key_id:
      description: The KMS key of an encrypted volume.
      type: str
    snapshot_id:
      description: The snapshot the volume was created from, if any.
      type: str
root_snapshot:
  description: The root snapshot of an image source.
  returned: when O(image_id) is given
  type: dict
  contains:
    snapshot_id:
      description: The snapshot ID.
      type: str
      sample: snap-0123456789abcdef0
    volume_size:
      description: Size in GiB of volumes created from it.
      type: int
      sample: 8
    volume_type:
      description: The volume type of the image's root mapping.
      type: str
    encrypted:
      description: Whether the snapshot is encrypted.
      type: bool
    kms_key_id:
      description: The KMS key of an encrypted snapshot.
      type: str
availability_zone:
  description: The Availability Zone of an instance source (an AMI has none).
  returned: always
  type: str
  sample: us-east-1a
kernel_id:
  description: The PV kernel (AKI) the source boots with, if any.
  returned: always
  type: str
  sample: aki-919dcaf8
ramdisk_id:
  description: The PV ramdisk (ARI), if any.
  returned: always
  type: str
block_device_mappings:
  description:
    - Every block device mapping of the source, root first. EBS entries carry C(ebs) with the volume ID
      (instance) or snapshot ID (image); instance-store entries carry C(virtual_name).
  returned: always
  type: list
  elements: dict
  sample:
    - {"device_name": "/dev/sda1", "is_root": true, "ebs": {"volume_id": "vol-0123", "size": 8}}
    - {"device_name": "/dev/sdb", "is_root": false, "virtual_name": "ephemeral0"}
hvm_block_device_mappings:
  description:
    - The non-root mappings in the format of the O(cloudops.pv2hvm.hvm_image#module:block_device_mappings) option, so the
      HVM AMI keeps the source's data volumes and instance-store names. Data volumes of an instance come with
      C(volume_id) (M(cloudops.pv2hvm.hvm_image) snapshots them), those of an AMI with their C(snapshot_id).
  returned: always
  type: list
  elements: dict
  sample:
    - {"device_name": "/dev/sdf", "snapshot_id": "snap-0123456789abcdef0", "delete_on_termination": false}
    - {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"}
instance_state:
  description: The state of an instance source.
  returned: when O(instance_id) is given
  type: str
  sample: running
image_id:
  description: The AMI an instance source was launched from (the image itself for an image source).
  returned: always
  type: str
product_codes:
  description: Product codes of the source (marketplace sources are refused).
  returned: always
  type: list
  elements: dict
platform:
  description: C(windows) for Windows sources (refused), else empty.
  returned: always
  type: str
ena_support:
  description: Whether the source has ENA enabled.
  returned: always
  type: bool
sriov_net_support:
  description: The source's SR-IOV setting (C(simple) or empty).
  returned: always
  type: str
boot_mode:
  description: The source's boot mode, empty when unset.
  returned: always
  type: str
"""

from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_instance
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_volumes


def ebs_volume_facts(volume: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "volume_id": volume["VolumeId"],
        "size": volume["Size"],
        "volume_type": volume.get("VolumeType"),
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
        "encrypted": bool(volume.get("Encrypted")),
        "kms_key_id": volume.get("KmsKeyId"),
        "snapshot_id": volume.get("SnapshotId") or None,
        "availability_zone": volume.get("AvailabilityZone"),
    }


def instance_mappings(client: Any, instance: Dict[str, Any]) -> List[Dict[str, Any]]:
    mappings = instance.get("BlockDeviceMappings", [])
    volumes = {v["VolumeId"]: v for v in get_volumes(client, [m["Ebs"]["VolumeId"] for m in mappings if "Ebs" in m])}
    result = []
    for mapping in mappings:
        entry: Dict[str, Any] = {"device_name": mapping["DeviceName"], "is_root": mapping["DeviceName"] == instance.get("RootDeviceName")}
        if "Ebs" in mapping:
            facts = ebs_volume_facts(volumes[mapping["Ebs"]["VolumeId"]])
            facts["delete_on_termination"] = mapping["Ebs"].get("DeleteOnTermination")
            entry["ebs"] = facts
        result.append(entry)
    return sorted(result, key=lambda entry: (not entry["is_root"], entry["device_name"]))


def image_mappings(image: Dict[str, Any]) -> List[Dict[str, Any]]:
    result = []
    for mapping in image.get("BlockDeviceMappings", []):
        entry: Dict[str, Any] = {"device_name": mapping["DeviceName"], "is_root": mapping["DeviceName"] == image.get("RootDeviceName")}
        if "Ebs" in mapping:
            entry["ebs"] = camel_dict_to_snake_dict(mapping["Ebs"])
        elif mapping.get("VirtualName"):
            entry["virtual_name"] = mapping["VirtualName"]
        elif "NoDevice" in mapping:
            entry["no_device"] = True
        result.append(entry)
    return sorted(result, key=lambda entry: (not entry["is_root"], entry["device_name"]))


def hvm_mappings(mappings: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The non-root mappings, ready for the block_device_mappings option of cloudops.pv2hvm.hvm_image."""
    result = []
    for entry in mappings:
        if entry["is_root"] or entry.get("no_device"):
            continue
        if "virtual_name" in entry:
            result.append({"device_name": entry["device_name"], "virtual_name": entry["virtual_name"]})
            continue
        ebs = entry["ebs"]
        mapping = {"device_name": entry["device_name"], "delete_on_termination": bool(ebs.get("delete_on_termination"))}
        # An instance's data volume is snapshotted by hvm_image; an AMI's mapping already has its snapshot.
        mapping.update({"volume_id": ebs["volume_id"]} if ebs.get("volume_id") else {"snapshot_id": ebs["snapshot_id"]})
        for key in ("volume_type", "iops", "throughput"):
            if ebs.get(key):
                mapping[key] = ebs[key]
        result.append(mapping)
    return result


def ephemeral_mappings(image: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Instance-store names live only in the AMI's mappings, not in DescribeInstances."""
    if not image:
        return []
    return [entry for entry in image_mappings(image) if "virtual_name" in entry]


def describe_instance_source(client: Any, instance_id: str) -> Dict[str, Any]:
    instance = get_instance(client, instance_id)
    if instance is None:
        raise Pv2hvmError(f"Instance {instance_id} was not found in this region. Check the ID, the region and the credentials' account.")
    tags = boto3_tag_list_to_ansible_dict(instance.get("Tags", []))
    image = get_image(client, instance["ImageId"]) if instance.get("ImageId") else None
    mappings = instance_mappings(client, instance) + ephemeral_mappings(image)
    root = next((m for m in mappings if m["is_root"] and "ebs" in m), None)
    return {
        "source_type": "instance",
        "id": instance_id,
        "name": tags.get("Name", ""),
        "tags": tags,
        "virtualization_type": instance.get("VirtualizationType", ""),
        "architecture": instance.get("Architecture", ""),
        "root_device_name": instance.get("RootDeviceName", ""),
        "root_device_type": instance.get("RootDeviceType", ""),
        "root_volume": root["ebs"] if root else None,
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone", ""),
        "kernel_id": instance.get("KernelId") or "",
        "ramdisk_id": instance.get("RamdiskId") or "",
        "block_device_mappings": mappings,
        "hvm_block_device_mappings": hvm_mappings(mappings),
        "instance_state": instance.get("State", {}).get("Name", ""),
        "image_id": instance.get("ImageId", ""),
        "product_codes": [camel_dict_to_snake_dict(code) for code in instance.get("ProductCodes", [])],
        "platform": instance.get("Platform") or "",
        "ena_support": bool(instance.get("EnaSupport")),
        "sriov_net_support": instance.get("SriovNetSupport") or "",
        "boot_mode": instance.get("BootMode") or "",
    }


def describe_image_source(client: Any, image_id: str) -> Dict[str, Any]:
    image = get_image(client, image_id)
    if image is None:
        raise Pv2hvmError(f"AMI {image_id} was not found in this region. Check the ID, the region and that it is shared with this account.")
    mappings = image_mappings(image)
    root = next((m for m in mappings if m["is_root"] and "ebs" in m), None)
    root_snapshot = None
    if root and root["ebs"].get("snapshot_id"):
        snapshot = get_snapshot(client, root["ebs"]["snapshot_id"]) or {}
        root_snapshot = {
            "snapshot_id": root["ebs"]["snapshot_id"],
            "volume_size": root["ebs"].get("volume_size") or snapshot.get("VolumeSize"),
            "volume_type": root["ebs"].get("volume_type"),
            "encrypted": bool(snapshot.get("Encrypted", root["ebs"].get("encrypted"))),
            "kms_key_id": snapshot.get("KmsKeyId"),
        }
    return {
        "source_type": "image",
        "id": image_id,
        "name": image.get("Name", ""),
        "tags": boto3_tag_list_to_ansible_dict(image.get("Tags", [])),
        "virtualization_type": image.get("VirtualizationType", ""),
        "architecture": image.get("Architecture", ""),
        "root_device_name": image.get("RootDeviceName", ""),
        "root_device_type": image.get("RootDeviceType", ""),
        "root_snapshot": root_snapshot,
        "availability_zone": "",
        "kernel_id": image.get("KernelId") or "",
        "ramdisk_id": image.get("RamdiskId") or "",
        "block_device_mappings": mappings,
        "hvm_block_device_mappings": hvm_mappings(mappings),
        "image_id": image_id,
        "product_codes": [camel_dict_to_snake_dict(code) for code in image.get("ProductCodes", [])],
        "platform": image.get("Platform") or "",
        "ena_support": bool(image.get("EnaSupport")),
        "sriov_net_support": image.get("SriovNetSupport") or "",
        "boot_mode": image.get("BootMode") or "",
    }


def refusal(source: Dict[str, Any], allow_hvm: bool) -> Optional[str]:
    """Why this source cannot be converted, with the next step; None when it can."""
    what = f"{source['source_type']} {source['id']}"
    if source["platform"] == "windows":
        return f"{what} runs Windows. Only Linux ever booted paravirtually on EC2; there is nothing to convert to HVM."
    marketplace = [code.get("product_code_id") for code in source["product_codes"] if code.get("product_code_type") == "marketplace"]
    if marketplace:
        return (
            f"{what} carries AWS Marketplace product code(s) {', '.join(marketplace)}. AWS does not allow registering a copy of a "
            "Marketplace product's root volume as a new AMI; launch the product's HVM edition from the Marketplace and move the data instead."
        )
    if source["root_device_type"] == "instance-store":
        return (
            f"{what} has an instance-store root device. This collection converts EBS-backed sources only: copy the root filesystem to "
            "an EBS volume and register an EBS-backed PV AMI from it first, then run the migration on that AMI."
        )
    if source["virtualization_type"] == "hvm" and not allow_hvm:
        return f"{what} is already HVM; there is nothing to convert. Set allow_hvm: true to inspect it anyway."
    if source["root_device_type"] == "ebs" and not (source.get("root_volume") or source.get("root_snapshot")):
        return f"{what} has no EBS volume or snapshot mapped at its root device {source['root_device_name']}; nothing can be copied from it."
    return None


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_id=dict(type="str"),
            image_id=dict(type="str"),
            allow_hvm=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("instance_id", "image_id")],
        required_one_of=[("instance_id", "image_id")],
        supports_check_mode=True,
    )
    client = ec2_client(module)
    try:
        if module.params["instance_id"]:
            source = describe_instance_source(client, module.params["instance_id"])
        else:
            source = describe_image_source(client, module.params["image_id"])
    except Pv2hvmError as error:
        module.fail_json(msg=str(error))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        fail_aws(module, error, "Could not describe the migration source")
    reason = refusal(source, module.params["allow_hvm"])
    if reason:
        module.fail_json(msg=reason, **source)
    module.exit_json(changed=False, **source)


if __name__ == "__main__":
    main()
