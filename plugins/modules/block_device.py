#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: block_device
version_added: 0.1.0
short_description: Find the worker's device for an attached EBS volume
description:
  - Resolves the operating-system block device of an EBS volume attached to the worker instance, on Nitro
    (NVMe) and on Xen instances, and describes what the device holds.
  - On Nitro the device is found through the udev link C(nvme-Amazon_Elastic_Block_Store_vol<hex>) under
    O(by_id_dir) or, when udev has not made it yet, through the serial number of the NVMe controller in sysfs.
  - On Xen the name AWS reported (O(device_name), e.g. C(/dev/sdf)) is translated to C(/dev/xvdf); on a
    RHEL/CentOS 6 style kernel, recognised by C(xvde) existing without C(xvda), the letter moves four places
    (C(/dev/sdf) becomes C(/dev/xvdj)).
  - Waits up to O(timeout) seconds for the device to appear, then adds any partition nodes udev did not
    create (C(partx -u)).
  - Fails for a device that is mounted, used as swap, held by device-mapper/LVM/md, or that holds the worker's
    own root filesystem, so that no later step writes to it.
  - Runs on the worker as root. It changes nothing on the device and always reports RV(ignore:changed=false).
author:
  - cloudops maintainers (@cloudops)
options:
  volume_id:
    description:
      - The EBS volume id, as returned by the EC2 API.
      - Exactly one of O(volume_id) and O(path) is required.
    type: str
  path:
    description:
      - A local block device to describe instead of an attached volume, e.g. a loop device on a snapshot that
        M(cloudops.pv2hvm.snapshot_download) fetched (the workerless method reads data volumes' ids that way).
    type: path
    version_added: 0.2.0
  device_name:
    description:
      - The device name the volume was attached as (C(/dev/sdf), C(/dev/xvdf)).
      - Needed on Xen instances, where nothing else identifies the volume. Not used on Nitro.
    type: str
  timeout:
    description:
      - Seconds to wait for the device to appear after the attachment.
    type: int
    default: 120
  by_id_dir:
    description:
      - Directory of the udev C(by-id) links. The lab points it at the links it makes for loop devices.
    type: path
    default: /dev/disk/by-id
  dev_dir:
    description:
      - Directory where Xen device nodes (C(xvdf), C(sdf)) are looked up.
    type: path
    default: /dev
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs C(blkid) and C(partx) (util-linux) on the worker.
seealso:
  - module: cloudops.pv2hvm.disk_clone
"""

EXAMPLES = r"""
- name: Find the working copy of the source root on the worker
  cloudops.pv2hvm.block_device:
    volume_id: "{{ working_copy.volume_id }}"
    device_name: /dev/sdf
    timeout: 300
  register: source_disk

- name: Show what it holds
  ansible.builtin.debug:
    msg: "{{ source_disk.device }}: {{ source_disk.filesystem or source_disk.partitions }}"

- name: Describe a loop device on a downloaded data snapshot
  cloudops.pv2hvm.block_device:
    path: /dev/loop3

- name: Find a volume the lab attached (a loop device behind a by-id link)
  cloudops.pv2hvm.block_device:
    volume_id: vol-0123456789abcdef0
    by_id_dir: /tmp/lab/by-id
"""

RETURN = r"""
device:
  description: The device node of the volume (the target of the by-id link on Nitro).
  returned: success
  type: str
  sample: /dev/nvme1n1
kernel_name:
  description: The kernel's name for the device.
  returned: success
  type: str
  sample: nvme1n1
found_by:
  description: How the device was found, C(nvme-by-id), C(nvme-serial), C(xen-name) or C(path) (given as O(path)).
  returned: success
  type: str
  sample: nvme-by-id
size_bytes:
  description: Size of the device in bytes.
  returned: success
  type: int
  sample: 8589934592
sector_size:
  description: Logical sector size in bytes.
  returned: success
  type: int
  sample: 512
partition_table:
  description: Partition table type (C(dos) or C(gpt)), or null for an unpartitioned disk.
  returned: success
  type: str
  sample: dos
partition_table_uuid:
  description: Disk identifier of the partition table, or null.
  returned: success
  type: str
  sample: 0c5e1a2b
filesystem:
  description: The filesystem on the whole (unpartitioned) disk, or null.
  returned: success
  type: dict
  contains:
    type:
      description: Filesystem type as blkid names it.
      type: str
      sample: ext4
    label:
      description: Filesystem label, or null.
      type: str
      sample: cloudimg-rootfs
    uuid:
      description: Filesystem UUID.
      type: str
      sample: 8d2d86b3-0651-4d47-b229-6c6e3c2054a7
  sample: {"type": "ext4", "label": "cloudimg-rootfs", "uuid": "8d2d86b3-0651-4d47-b229-6c6e3c2054a7"}
partitions:
  description: Each partition of a partitioned disk, in partition-number order.
  returned: success
  type: list
  elements: dict
  contains:
    device:
      description: Device node of the partition.
      type: str
      sample: /dev/nvme1n1p1
    number:
      description: Partition number.
      type: int
      sample: 1
    start_bytes:
      description: Offset of the partition on the disk.
      type: int
      sample: 1048576
    size_bytes:
      description: Size of the partition.
      type: int
      sample: 8588886016
    partition_type:
      description: Partition type (MBR type code or GPT type GUID).
      type: str
      sample: "0x83"
    partition_label:
      description: GPT partition name, or null.
      type: str
      sample: root
    filesystem:
      description: Filesystem in the partition (type, label, uuid), or null.
      type: dict
      sample: {"type": "xfs", "label": "/", "uuid": "6126b9ae-9987-485d-8329-0e4bf45eb727"}
  sample: []
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import block_devices
from ansible_collections.cloudops.pv2hvm.plugins.module_utils import device_names
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError

SYS_CLASS_NVME = "/sys/class/nvme"
POLL_SECONDS = 1.0
NVME_NAMESPACE = re.compile(r"^nvme([0-9]+)(?:c[0-9]+)?n1$")


def find_by_id(by_id_dir: str, volume_id: str):
    """The by-id link udev makes on Nitro, resolved to the device node."""
    link = os.path.join(by_id_dir, device_names.nvme_by_id_name(volume_id))
    if os.path.exists(link):
        return os.path.realpath(link)
    return None


def find_by_nvme_serial(volume_id: str, sys_class_nvme: str = SYS_CLASS_NVME):
    """Without udev: the NVMe controller whose serial is the volume id, and its first namespace."""
    if not os.path.isdir(sys_class_nvme):
        return None
    serial = device_names.nvme_serial(volume_id)
    for controller in sorted(os.listdir(sys_class_nvme)):
        try:
            with open(os.path.join(sys_class_nvme, controller, "serial")) as handle:
                if handle.read().strip() != serial:
                    continue
        except OSError:
            continue
        for name in sorted(os.listdir(os.path.join(sys_class_nvme, controller))):
            # nvme1n1, or nvme1c2n1 (the path of namespace nvme1n1 through controller 2 with native multipath)
            match = NVME_NAMESPACE.match(name)
            if match:
                return f"/dev/nvme{match.group(1)}n1"
    return None


def find_xen(dev_dir: str, device_name: str):
    """The Xen node for the name AWS reported, allowing for the RHEL 6 letter shift."""
    shifted = os.path.exists(os.path.join(dev_dir, "xvde")) and not os.path.exists(os.path.join(dev_dir, "xvda"))
    for name in device_names.xen_device_names(device_name, shifted=shifted):
        path = os.path.join(dev_dir, name)
        if os.path.exists(path):
            return path
    return None


def locate(params):
    """(device path, how it was found), or (None, None) while the volume has not appeared yet."""
    device = find_by_id(params["by_id_dir"], params["volume_id"])
    if device:
        return device, "nvme-by-id"
    device = find_by_nvme_serial(params["volume_id"])
    if device:
        return device, "nvme-serial"
    if params["device_name"]:
        device = find_xen(params["dev_dir"], params["device_name"])
        if device:
            return device, "xen-name"
    return None, None


def wait_for_device(params):
    deadline = time.monotonic() + params["timeout"]
    while True:
        device, found_by = locate(params)
        if device:
            return device, found_by
        if time.monotonic() >= deadline:
            raise Pv2hvmError(not_found_message(params))
        time.sleep(POLL_SECONDS)


def not_found_message(params) -> str:
    volume_id = params["volume_id"]
    looked = [os.path.join(params["by_id_dir"], device_names.nvme_by_id_name(volume_id)),
              f"an NVMe controller with serial {device_names.nvme_serial(volume_id)}"]
    if params["device_name"]:
        looked.append(" or ".join(os.path.join(params["dev_dir"], name) for name in xen_names_for_message(params["device_name"])))
    message = (f"{volume_id} did not appear on this worker within {params['timeout']} s (looked for {'; '.join(looked)}). "
               "Check that the volume is attached to this instance (state 'attached'), then run again")
    if not params["device_name"]:
        message += "; on a Xen instance also pass device_name, the name it was attached as"
    return message + "."


def xen_names_for_message(device_name: str):
    return device_names.xen_device_names(device_name) + device_names.xen_device_names(device_name, shifted=True)


def check_params(module) -> None:
    """Refuse malformed input before looking for anything."""
    if module.params["path"]:
        return
    try:
        device_names.check_volume_id(module.params["volume_id"])
        if module.params["device_name"]:
            device_names.xen_device_names(module.params["device_name"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if module.params["timeout"] < 0:
        module.fail_json(msg=f"timeout must be 0 or more seconds, got {module.params['timeout']}.")


def resolve(module):
    if module.params["path"]:
        device, found_by = module.params["path"], "path"
        if not os.path.exists(device):
            raise Pv2hvmError(f"path {device} does not exist: give a block device of this machine.")
    else:
        device, found_by = wait_for_device(module.params)
    block_devices.device_number(device)  # a block device, not a stale file
    reasons = block_devices.in_use(device)
    if reasons:
        raise Pv2hvmError(
            f"{device} ({module.params['volume_id'] or 'path'}) is in use on this machine: {'; '.join(reasons)}. "
            "It cannot be a migration volume: check the volume id, or unmount/deactivate it first.",
            device=device, in_use=reasons,
        )
    description = block_devices.describe(module, device)
    return dict(description, found_by=found_by)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            volume_id=dict(type="str"),
            path=dict(type="path"),
            device_name=dict(type="str"),
            timeout=dict(type="int", default=120),
            by_id_dir=dict(type="path", default="/dev/disk/by-id"),
            dev_dir=dict(type="path", default="/dev"),
        ),
        required_one_of=[("volume_id", "path")],
        mutually_exclusive=[("volume_id", "path")],
        supports_check_mode=True,
    )
    check_params(module)
    try:
        result = resolve(module)
    except Pv2hvmError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
