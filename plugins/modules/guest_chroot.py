#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guest_chroot
version_added: 0.4.0
short_description: Mount or unmount the filesystems a chroot of a guest image's root needs
description:
  - Mounts O(mounts) under O(root) in their order (O(state=mounted)), or unmounts them in the reverse order
    (O(state=unmounted)), in one module run; C(/etc/fstab) is never written.
  - A filesystem already mounted at its place is left as it is, so a second run changes nothing.
  - Unmounting retries briefly while a target is busy (a process that just closed a file there).
author:
  - cloudops maintainers (@cloudops)
options:
  root:
    description:
      - Root directory of the guest image. Nothing is done when it is C(/) (a live host already has these mounts).
    type: path
    required: true
  mounts:
    description:
      - The filesystems, in mount order.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Where, relative to O(root) (C(dev), C(proc)).
        type: str
        required: true
      src:
        description: What to mount (a directory for a bind mount, or the filesystem's source name).
        type: str
        required: true
      fstype:
        description: The filesystem type (C(none) for a bind mount).
        type: str
        required: true
      opts:
        description: Mount options, comma-separated.
        type: str
        default: defaults
  state:
    description:
      - C(mounted) mounts what is not mounted yet; C(unmounted) unmounts what is mounted.
    type: str
    choices: [mounted, unmounted]
    default: mounted
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
  - Runs as root on the machine that has the guest root mounted (the worker).
seealso:
  - module: cloudops.pv2hvm.guest_info
"""

EXAMPLES = r"""
- name: Mount /dev, /proc and /sys into the guest root
  cloudops.pv2hvm.guest_chroot:
    root: /mnt/pv2hvm/destination
    mounts:
      - { path: dev, src: /dev, fstype: none, opts: bind }
      - { path: proc, src: proc, fstype: proc, opts: "nosuid,nodev,noexec" }
      - { path: sys, src: sysfs, fstype: sysfs, opts: "nosuid,nodev,noexec" }

- name: Unmount what a list of mounts mounted, in the reverse order
  cloudops.pv2hvm.guest_chroot:
    root: /mnt/pv2hvm/destination
    mounts: "{{ chroot_mounts }}"
    state: unmounted
"""

RETURN = r"""
mounted:
  description: The mount points this run mounted (O(state=mounted)), in order.
  returned: always
  type: list
  elements: str
  sample: [/mnt/pv2hvm/destination/dev, /mnt/pv2hvm/destination/proc]
unmounted:
  description: The mount points this run unmounted (O(state=unmounted)), in order.
  returned: always
  type: list
  elements: str
  sample: [/mnt/pv2hvm/destination/proc, /mnt/pv2hvm/destination/dev]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.commands import CommandError, run
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.mounts import unmount


def _target(root, mount):
    return os.path.join(root, mount["path"].strip("/"))


def mount_all(module, root, mounts):
    done = []
    for mount in mounts:
        target = _target(root, mount)
        if os.path.ismount(target):
            continue
        if not module.check_mode:
            os.makedirs(target, exist_ok=True)
            argv = ["mount"] + ([] if mount["fstype"] == "none" else ["-t", mount["fstype"]])
            run(module, argv + ["-o", mount["opts"], mount["src"], target])
        done.append(target)
    return done


def unmount_all(module, root, mounts):
    done = []
    for mount in reversed(mounts):
        target = _target(root, mount)
        if not os.path.ismount(target):
            continue
        if not module.check_mode:
            unmount(module, target)
        done.append(target)
    return done


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            mounts=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="str", required=True),
                src=dict(type="str", required=True),
                fstype=dict(type="str", required=True),
                opts=dict(type="str", default="defaults"),
            )),
            state=dict(type="str", choices=["mounted", "unmounted"], default="mounted"),
        ),
        supports_check_mode=True,
    )
    root = module.params["root"].rstrip("/")
    result = {"mounted": [], "unmounted": []}
    if root:
        if not os.path.isdir(root):
            module.fail_json(msg=f"{module.params['root']} is not a directory: mount the image's root filesystem there and run again.")
        try:
            if module.params["state"] == "mounted":
                result["mounted"] = mount_all(module, root, module.params["mounts"])
            else:
                result["unmounted"] = unmount_all(module, root, module.params["mounts"])
        except CommandError as error:
            module.fail_json(msg=str(error), **result)
    module.exit_json(changed=bool(result["mounted"] or result["unmounted"]), **result)


if __name__ == "__main__":
    main()
