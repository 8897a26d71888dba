#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guest_scratch
version_added: 0.4.0
short_description: Put the files a package install in a guest image's chroot needs into the image, and take them out again
description:
  - O(state=present) prepares a guest root for running its package manager in a chroot, in one module run; the
    image's resolv.conf is set aside as C(etc/resolv.conf.pv2hvm-saved) (or, when it has none, the note
    C(etc/resolv.conf.pv2hvm-absent) is written) and the worker's O(resolv_conf) takes its place; a
    C(usr/sbin/policy-rc.d) that exits 101 keeps package scripts from starting services, unless the image has
    one of its own; O(dirs) are made and O(files) written.
  - O(state=absent) undoes that, also after a run that was killed half-way (it needs no memory of that run). The
    image's resolv.conf comes back from C(.pv2hvm-saved) (or the worker's goes, where the note says the image had
    none), the policy-rc.d goes only when it is the module's (it says so), and every path of O(files) and O(dirs)
    is removed.
  - Either state changes nothing the second time. In check mode, RV(found) tells what a crashed run left.
author:
  - cloudops maintainers (@cloudops)
options:
  root:
    description:
      - Root directory of the guest image (not C(/)).
    type: path
    required: true
  resolv_conf:
    description:
      - The worker's file to use as the image's C(etc/resolv.conf) while O(state=present) (name resolution for
        the package repositories). An empty string leaves the image's resolv.conf alone.
    type: path
    default: /etc/resolv.conf
  policy_rc_d:
    description:
      - Whether O(state=present) adds the C(usr/sbin/policy-rc.d) that keeps package scripts from starting
        services in the chroot (O(state=absent) removes the module's own in any case).
    type: bool
    default: true
  dirs:
    description:
      - Directories relative to O(root) (a leading C(/) means the same), made in this order (O(state=present)) or removed with what they hold in
        the reverse order (O(state=absent)).
    type: list
    elements: str
    default: []
  files:
    description:
      - Files relative to O(root) (a leading C(/) means the same) and their contents, written with mode C(0644) (O(state=present)) or removed
        (O(state=absent), the contents not used).
    type: dict
    default: {}
  state:
    description:
      - C(present) puts the files in; C(absent) takes them out and puts the image's own back.
    type: str
    choices: [present, absent]
    default: present
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
  - module: cloudops.pv2hvm.guest_chroot
"""

EXAMPLES = r"""
- name: Prepare the image for its package manager (the worker's name resolution, no service starts)
  cloudops.pv2hvm.guest_scratch:
    root: /mnt/pv2hvm/destination
    dirs: [var/lib/apt/pv2hvm-lists]
    files:
      etc/apt/pv2hvm-sources.list: "deb http://127.0.0.1:8080/debian bookworm main\n"

- name: Take it all out again and put the image's resolv.conf back
  cloudops.pv2hvm.guest_scratch:
    root: /mnt/pv2hvm/destination
    dirs: [var/lib/apt/pv2hvm-lists]
    files:
      etc/apt/pv2hvm-sources.list: ""
    state: absent

- name: List what a crashed run left in the image, changing nothing
  cloudops.pv2hvm.guest_scratch:
    root: /mnt/pv2hvm/destination
    files: { etc/apt/pv2hvm-sources.list: "" }
    state: absent
  check_mode: true
  register: left
"""

RETURN = r"""
found:
  description: The module's files in the image before this run, relative to O(root) (a policy-rc.d only when it is the module's).
  returned: always
  type: list
  elements: str
  sample: [etc/resolv.conf.pv2hvm-saved, usr/sbin/policy-rc.d]
written:
  description: What this run wrote, made or set aside, relative to O(root).
  returned: always
  type: list
  elements: str
  sample: [etc/resolv.conf.pv2hvm-saved, etc/resolv.conf, usr/sbin/policy-rc.d]
removed:
  description: What this run removed or put back, relative to O(root).
  returned: always
  type: list
  elements: str
  sample: [etc/apt/pv2hvm-sources.list, usr/sbin/policy-rc.d, etc/resolv.conf]
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

RESOLV = "etc/resolv.conf"
SAVED = RESOLV + ".pv2hvm-saved"
ABSENT = RESOLV + ".pv2hvm-absent"
POLICY = "usr/sbin/policy-rc.d"
# The marker tells the module's policy-rc.d from an image's own (roles/pv2hvm/vars/main.yml names it too).
MARKER = "cloudops.pv2hvm grub_install"
POLICY_TEXT = "#!/bin/sh\n# %s: no service starts in the chroot\nexit 101\n" % MARKER
ABSENT_TEXT = "%s: the image had no resolv.conf\n" % MARKER


class Guest:
    def __init__(self, module, root):
        self.module, self.root = module, root
        self.written, self.removed = [], []

    def path(self, relative):
        return os.path.join(self.root, relative.strip("/"))

    def exists(self, relative):
        return os.path.lexists(self.path(relative))

    def read(self, relative):
        try:
            with open(self.path(relative), "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return None

    def ours(self, relative):
        """The policy-rc.d counts only when it says it is the module's."""
        return relative != POLICY or MARKER in (self.read(POLICY) or "")

    def write(self, relative, content, mode):
        if self.read(relative) == content and not os.path.islink(self.path(relative)):
            return
        if not self.module.check_mode:
            target = self.path(relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.islink(target):
                os.unlink(target)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(target, mode)
        self.written.append(relative)

    def make_dir(self, relative):
        if os.path.isdir(self.path(relative)):
            return
        if not self.module.check_mode:
            os.makedirs(self.path(relative), mode=0o755)
        self.written.append(relative)

    def move(self, relative, to):
        if not self.module.check_mode:
            os.replace(self.path(relative), self.path(to))
        self.written.append(to)

    def remove(self, relative):
        if not self.exists(relative):
            return
        if not self.module.check_mode:
            target = self.path(relative)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        self.removed.append(relative)


def present(guest, params):
    if params["resolv_conf"]:
        # A run killed after setting the image's resolv.conf aside must not set the worker's aside over it.
        if not (guest.exists(SAVED) or guest.exists(ABSENT)):
            if guest.exists(RESOLV):
                guest.move(RESOLV, SAVED)
            else:
                guest.write(ABSENT, ABSENT_TEXT, 0o644)
        with open(params["resolv_conf"], encoding="utf-8") as handle:
            guest.write(RESOLV, handle.read(), 0o644)
    if params["policy_rc_d"] and not guest.exists(POLICY):
        guest.write(POLICY, POLICY_TEXT, 0o755)
    for directory in params["dirs"]:
        guest.make_dir(directory)
    for relative, content in params["files"].items():
        guest.write(relative, content, 0o644)


def absent(guest, params):
    for relative in list(params["files"]) + list(reversed(params["dirs"])):
        guest.remove(relative)
    if guest.exists(POLICY) and guest.ours(POLICY):
        guest.remove(POLICY)
    if guest.exists(SAVED):
        if not guest.module.check_mode:
            os.replace(guest.path(SAVED), guest.path(RESOLV))
        guest.removed.append(RESOLV)
    elif guest.exists(ABSENT):
        guest.remove(RESOLV)
        guest.remove(ABSENT)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            resolv_conf=dict(type="path", default="/etc/resolv.conf"),
            policy_rc_d=dict(type="bool", default=True),
            dirs=dict(type="list", elements="str", default=[]),
            files=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    root = module.params["root"].rstrip("/")
    if not root:
        module.fail_json(msg="root is /: give the directory the guest image's root filesystem is mounted at.")
    if not os.path.isdir(root):
        module.fail_json(msg=f"{module.params['root']} is not a directory: mount the image's root filesystem there and run again.")
    # Paths relative to root; a leading slash (a path as the image sees it) means the same.
    module.params["dirs"] = [relative.strip("/") for relative in module.params["dirs"]]
    module.params["files"] = {relative.strip("/"): content for relative, content in module.params["files"].items()}
    guest = Guest(module, root)
    candidates = [SAVED, ABSENT, POLICY] + list(module.params["files"]) + list(module.params["dirs"])
    found = [relative for relative in dict.fromkeys(candidates) if guest.exists(relative) and guest.ours(relative)]
    try:
        (present if module.params["state"] == "present" else absent)(guest, module.params)
    except OSError as error:
        module.fail_json(msg=f"{error.filename or root}: {error.strerror}; free or fix it on the worker and run again.",
                         found=found, written=guest.written, removed=guest.removed)
    module.exit_json(changed=bool(guest.written or guest.removed), found=found, written=guest.written, removed=guest.removed)


if __name__ == "__main__":
    main()
