#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conversion_space
version_added: 0.2.0
short_description: Plan the free space the HVM conversion needs in a root filesystem
description:
  - Estimates what the guest roles add to the root filesystem of the copy (one new initramfs per kernel, the
    image's GRUB package and the package index its install needs when the image has no boot loader, backups of
    the rewritten files, and a 100 MiB reserve for the first boot), so that the destination can be sized with
    that headroom before anything is written.
  - Reads a mounted root (O(root)), or mounts a filesystem device read-only for the time of the estimate
    (O(device); the journal is not replayed, so a source device is never written).
  - With O(required=true), fails when the filesystem has less free space than the headroom, with a message
    that names the size variable to raise (O(size_variable)) and the size needed.
  - Changes nothing and always reports RV(ignore:changed=false).
author:
  - cloudops maintainers (@cloudops)
options:
  root:
    description:
      - A mounted root filesystem to inspect. Mutually exclusive with O(device).
    type: path
  device:
    description:
      - A block device (or loop device) holding the root filesystem, mounted read-only for the estimate.
      - Mutually exclusive with O(root).
    type: path
  install_packages:
    description:
      - Whether the conversion installs the image's own GRUB package when the image has no GRUB
        (C(grub_install_install_packages)). When false, only GRUB's modules from the worker are counted.
    type: bool
    default: true
  required:
    description:
      - Fail unless the filesystem's free space is at least the headroom.
    type: bool
    default: false
  size_variable:
    description:
      - The variable that sets the destination's size, named in the failure message of O(required).
    type: str
    default: pv2hvm_destination_size
  table_overhead_bytes:
    description:
      - Bytes the partition table adds in front of (and, for GPT, behind) the filesystem, for RV(destination_bytes).
    type: int
    default: 1048576
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
  - Runs on the worker (or the conversion host) as root when O(device) is used.
seealso:
  - module: cloudops.pv2hvm.disk_clone
"""

EXAMPLES = r"""
- name: Estimate, from the source, how large the HVM image must be
  cloudops.pv2hvm.conversion_space:
    device: /dev/loop3
  register: space

- name: Refuse a copy that lacks the room the conversion needs, before the roles write to it
  cloudops.pv2hvm.conversion_space:
    root: /mnt/pv2hvm/destination
    required: true
    size_variable: pv2hvm_dest_size
"""

RETURN = r"""
headroom_bytes:
  description: Bytes the conversion adds to the root filesystem (rounded up to MiB), the sum of RV(breakdown).
  returned: success
  type: int
  sample: 387973120
breakdown:
  description: The headroom by cause.
  returned: success
  type: dict
  contains:
    initramfs_bytes:
      description: New initramfs images, one per kernel (1.5 times today's, or 48 MiB for a kernel without one).
      type: int
    grub_bytes:
      description: The image's GRUB package with its index (0 when the image has GRUB), or the worker's GRUB modules.
      type: int
    backup_bytes:
      description: Backups of the configuration files the roles rewrite.
      type: int
    reserve_bytes:
      description: Space kept free for the first boot (100 MiB).
      type: int
  sample: {"initramfs_bytes": 52428800, "grub_bytes": 167772160, "backup_bytes": 4096, "reserve_bytes": 104857600}
free_bytes:
  description: Free bytes in the filesystem now (for root, reserved blocks included).
  returned: success
  type: int
  sample: 1073741824
filesystem_bytes:
  description: Size of the filesystem.
  returned: success
  type: int
  sample: 2147483648
destination_bytes:
  description: >-
    The smallest destination that holds the partition table, this filesystem and the headroom (MiB-aligned);
    a whole-GiB EBS volume must be at least this large.
  returned: success
  type: int
  sample: 2536505344
kernels:
  description: The kernels found in /boot, with the size of each one's initramfs.
  returned: success
  type: list
  elements: dict
  sample: [{"version": "6.1.0-18-cloud-amd64", "initramfs_bytes": 27262976}]
has_grub:
  description: Whether the image has a GRUB of its own (no package to install).
  returned: success
  type: bool
  sample: false
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import block_devices, filesystems, space
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.mounts import mounted


def measure(module, root: str) -> dict:
    stats = os.statvfs(root)
    result = space.estimate(root, module.params["install_packages"])
    filesystem_bytes = stats.f_blocks * stats.f_frsize
    result.update(
        free_bytes=space.free_bytes(root),
        filesystem_bytes=filesystem_bytes,
        destination_bytes=space.destination_bytes(filesystem_bytes, module.params["table_overhead_bytes"],
                                                  result["headroom_bytes"]),
    )
    return result


def root_filesystem(module, device: str) -> tuple:
    """The device holding the root filesystem (the disk itself, or its one partition with a filesystem) and its signature."""
    signature = block_devices.probe(module, device)
    if not signature.get("PTTYPE"):
        return device, signature
    nodes = [(node, block_devices.probe(module, node)) for node in block_devices.refresh_partitions(module, device)]
    candidates = [(node, sig) for node, sig in nodes if sig.get("TYPE") in filesystems.SUPPORTED]
    if len(candidates) != 1:
        listing = ", ".join(f"{node}: {sig.get('TYPE') or 'no filesystem'}" for node, sig in nodes) or "none"
        raise Pv2hvmError(f"{device} is partitioned ({listing}) and it is not clear which partition holds the root "
                          "filesystem: give that partition as device.")
    return candidates[0]


def measure_device(module, device: str) -> dict:
    device, signature = root_filesystem(module, device)
    fstype = filesystems.check_supported(signature.get("TYPE"), device)
    mount_type, options = filesystems.mount_args(fstype, writable=False)
    with mounted(module, device, mount_type, options) as root:
        return measure(module, root)


def check_room(module, result: dict) -> None:
    if result["free_bytes"] >= result["headroom_bytes"]:
        return
    short = result["headroom_bytes"] - result["free_bytes"]
    parts = ", ".join(f"{name.replace('_bytes', '')} {space.human(value)}" for name, value in result["breakdown"].items())
    raise Pv2hvmError(
        f"the root filesystem has {space.human(result['free_bytes'])} free, but the conversion needs "
        f"{space.human(result['headroom_bytes'])} ({parts}): {space.human(short)} short. Raise "
        f"{module.params['size_variable']} to at least {space.human(result['destination_bytes'])} "
        f"({result['destination_bytes']} bytes; the filesystem is grown to the destination), or leave it unset "
        "for the default, which includes this headroom. Nothing in the image was changed.",
        short_bytes=short, **result,
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path"),
            device=dict(type="path"),
            install_packages=dict(type="bool", default=True),
            required=dict(type="bool", default=False),
            size_variable=dict(type="str", default="pv2hvm_destination_size"),
            table_overhead_bytes=dict(type="int", default=space.MIB),
        ),
        mutually_exclusive=[("root", "device")],
        required_one_of=[("root", "device")],
        supports_check_mode=True,
    )
    if module.params["table_overhead_bytes"] < 0:
        module.fail_json(msg="table_overhead_bytes must be 0 or more (1048576 for msdos, 3145728 for gpt).")
    root = module.params["root"]
    if root and not os.path.isdir(root):
        module.fail_json(msg=f"root {root} is not a directory: give the mount point of the root filesystem.")
    try:
        result = measure(module, root) if root else measure_device(module, module.params["device"])
        if module.params["required"]:
            check_room(module, result)
    except Pv2hvmError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
