#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guest_info
version_added: 0.4.0
short_description: Read what the guest roles decide from in a guest image's root, in one pass
description:
  - Reads, under O(root) and never from the machine it runs on, the files the roles C(boot_config) and
    C(grub_install) decide from - the release files, the initramfs tools installed, the kernels with their
    build configurations, built-in driver lists and NVMe driver parameters -, whether the given O(paths)
    exist, the text of the files O(read) names and what the patterns of O(glob) match.
  - One module run instead of one task per file, because over SSH to a worker each task costs a connection round trip.
  - Returns the raw contents; the collection's filters (C(os_identity), C(kernel_inventory)) turn them into
    decisions.
  - Only reads, and always reports RV(ignore:changed=false).
author:
  - cloudops maintainers (@cloudops)
options:
  root:
    description:
      - Root directory of the guest image (a mounted copy, or C(/) on a live host).
    type: path
    default: /
  gather:
    description:
      - What to read. C(release) - the release files and the initramfs tools; C(kernels) - the kernels, their
        module trees, build configurations, built-in driver lists and NVMe driver parameters.
    type: list
    elements: str
    choices: [release, kernels]
    default: [release, kernels]
  paths:
    description:
      - Paths inside the image (absolute, as the guest sees them) whose existence to report in RV(exists).
    type: list
    elements: str
    default: []
  read:
    description:
      - Paths or shell patterns inside the image (C(/etc/network/interfaces.d/*); C(**) matches any depth) whose
        regular files to return in RV(contents); symbolic links, directories and hidden files are not read.
    type: list
    elements: str
    default: []
  read_excludes:
    description:
      - Shell patterns of file names (C(*.bak)) that O(read) leaves out.
    type: list
    elements: str
    default: []
  glob:
    description:
      - Shell patterns inside the image whose matches (of any type, links not followed) to list in RV(matched).
    type: list
    elements: str
    default: []
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
  - The NVMe driver parameters come from this machine's C(modinfo) with C(--basedir), or, without one here, from
    the image's own C(modinfo) in a C(chroot) of O(root) (which then needs the chroot filesystems mounted).
seealso:
  - module: cloudops.pv2hvm.conversion_space
"""

EXAMPLES = r"""
- name: Read the guest's release files, kernels and initramfs tools
  cloudops.pv2hvm.guest_info:
    root: /mnt/pv2hvm/destination
  register: guest

- name: Look for the GRUB the image has installed
  cloudops.pv2hvm.guest_info:
    root: /mnt/pv2hvm/destination
    gather: []
    paths: [/usr/sbin/grub-install, /usr/sbin/grub2-install, /sbin/grub-install]
  register: grub_files

- name: Read the guest's network configuration and list its PV console getty links, in one run
  cloudops.pv2hvm.guest_info:
    root: /mnt/pv2hvm/destination
    gather: []
    read: [/etc/network/interfaces, "/etc/network/interfaces.d/*", "/etc/netplan/*.yaml"]
    read_excludes: ["*.bak", "*.dpkg-*"]
    glob: ["/etc/systemd/system/**/serial-getty@hvc*.service"]
  register: guest_files
"""

RETURN = r"""
has_etc:
  description: Whether the image's root has an C(/etc) directory (a Linux root filesystem has).
  returned: when O(gather) has C(release)
  type: bool
  sample: true
release:
  description: Contents of the release files found in the image's C(/etc), by file name.
  returned: when O(gather) has C(release)
  type: dict
  sample: {"os-release": "ID=debian\nVERSION_ID=\"12\"\n", "debian_version": "12.8\n"}
initramfs_tools:
  description: The initramfs builders the image has, as guest paths.
  returned: when O(gather) has C(release)
  type: list
  elements: str
  sample: [/usr/sbin/mkinitramfs]
boot_files:
  description: Names of the kernels and initramfs images (regular files) in the image's C(/boot), leftovers of
    package managers left out.
  returned: when O(gather) has C(kernels)
  type: list
  elements: str
  sample: [vmlinuz-6.1.0-50-cloud-amd64, initrd.img-6.1.0-50-cloud-amd64]
versions:
  description: The kernel versions, from C(/boot/vmlinuz-<version>), in directory order.
  returned: when O(gather) has C(kernels)
  type: list
  elements: str
  sample: [6.1.0-50-cloud-amd64]
module_dirs:
  description: The image's kernel module trees (paths under O(root)).
  returned: when O(gather) has C(kernels)
  type: list
  elements: str
  sample: [/mnt/pv2hvm/destination/lib/modules/6.1.0-50-cloud-amd64]
configs:
  description: Each kernel's C(/boot/config-<version>), by version; a kernel without one is absent.
  returned: when O(gather) has C(kernels)
  type: dict
  sample: {"6.1.0-50-cloud-amd64": "CONFIG_X86_64=y\n"}
builtins:
  description: Each kernel's C(modules.builtin), by version; a kernel without one is absent.
  returned: when O(gather) has C(kernels)
  type: dict
  sample: {"6.1.0-50-cloud-amd64": "kernel/drivers/nvme/host/nvme-core.ko\n"}
nvme_params:
  description: C(modinfo -F parm) of C(nvme_core) and C(nvme) for each kernel, by C(<version>/<driver>) (empty
    when modinfo does not know the driver).
  returned: when O(gather) has C(kernels)
  type: dict
  sample: {"6.1.0-50-cloud-amd64/nvme_core": "io_timeout:timeout in seconds for I/O (uint)"}
exists:
  description: Whether each of O(paths) exists in the image (symbolic links followed inside the image's root
    only as far as the machine's own path lookup does).
  returned: always
  type: dict
  sample: {"/usr/sbin/grub-install": true}
contents:
  description: The text of each regular file O(read) matched, by its path as the guest sees it.
  returned: always
  type: dict
  sample: {"/etc/network/interfaces": "auto eth0\niface eth0 inet dhcp\n"}
matched:
  description: For each pattern of O(glob), what it matched (guest paths, sorted) and the type of each.
  returned: always
  type: dict
  sample: {"/etc/systemd/system/**/serial-getty@hvc*.service": [{"path": "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service", "type": "link"}]}
"""

import glob
import os
import shutil
import stat
from fnmatch import fnmatch

from ansible.module_utils.basic import AnsibleModule

RELEASE_FILES = ("os-release", "system-release", "redhat-release", "debian_version")
INITRAMFS_TOOLS = ("/usr/sbin/mkinitramfs", "/sbin/mkinitramfs", "/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut")
BOOT_PATTERNS = ("vmlinuz-*", "initrd*", "initramfs-*")
# Package managers' leftovers are not kernels (grub-mkconfig skips them too).
BOOT_LEFTOVERS = ("*.hmac", "*.dpkg-*", "*.rpmsave", "*.rpmnew", "*.ucf-*", "*~", "*.bak")
NVME_DRIVERS = ("nvme_core", "nvme")


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def _entries(directory):
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _is(path, kind):
    try:
        return kind(os.lstat(path).st_mode)
    except OSError:
        return False


def read_release(base):
    release = {}
    for name in RELEASE_FILES:
        content = _read(f"{base}/etc/{name}")
        if content is not None:
            release[name] = content
    tools = [tool for tool in INITRAMFS_TOOLS if os.path.lexists(base + tool)]
    return {"has_etc": os.path.isdir(f"{base}/etc"), "release": release, "initramfs_tools": tools}


def boot_files(base):
    return [name for name in _entries(f"{base}/boot")
            if any(fnmatch(name, pattern) for pattern in BOOT_PATTERNS)
            and not any(fnmatch(name, pattern) for pattern in BOOT_LEFTOVERS)
            and _is(f"{base}/boot/{name}", stat.S_ISREG)]


def modinfo_argv(base, version, driver):
    """This machine's modinfo reads the image's files with --basedir; without one, the image's own in a chroot."""
    if shutil.which("modinfo"):
        argv = ["modinfo"] + (["-b", base] if base else [])
    else:
        argv = (["chroot", base] if base else []) + ["modinfo"]
    return argv + ["-k", version, "-F", "parm", driver]


def read_kernels(module, base):
    files = boot_files(base)
    versions = [name[len("vmlinuz-"):] for name in files if name.startswith("vmlinuz-") and len(name) > len("vmlinuz-")]
    modules = f"{base}/lib/modules"
    module_dirs = [f"{modules}/{name}" for name in _entries(modules) if _is(f"{modules}/{name}", stat.S_ISDIR)]
    configs, builtins, nvme = {}, {}, {}
    for version in versions:
        config = _read(f"{base}/boot/config-{version}")
        if config is not None:
            configs[version] = config
        builtin = _read(f"{modules}/{version}/modules.builtin")
        if builtin is not None:
            builtins[version] = builtin
        for driver in NVME_DRIVERS:
            # A driver modinfo does not know prints nothing on stdout: its parameters are then empty.
            _rc, out, _err = module.run_command(modinfo_argv(base, version, driver), environ_update={"LC_ALL": "C"})
            nvme[f"{version}/{driver}"] = out.rstrip("\r\n")
    return {"boot_files": files, "versions": versions, "module_dirs": module_dirs, "configs": configs,
            "builtins": builtins, "nvme_params": nvme}


def _kind(path):
    mode = os.lstat(path).st_mode
    return "link" if stat.S_ISLNK(mode) else "file" if stat.S_ISREG(mode) else "directory" if stat.S_ISDIR(mode) else "other"


def _glob(base, pattern):
    """Guest paths that `pattern` matches inside the image, sorted."""
    found = glob.glob(glob.escape(base) + "/" + pattern.lstrip("/"), recursive=True)
    return sorted({path[len(base):] or "/" for path in found if os.path.lexists(path)})


def read_files(base, patterns, excludes):
    contents = {}
    for pattern in patterns:
        for path in _glob(base, pattern):
            name = os.path.basename(path)
            if _is(base + path, stat.S_ISREG) and not any(fnmatch(name, exclude) for exclude in excludes):
                text = _read(base + path)
                if text is not None:
                    contents[path] = text
    return contents


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            gather=dict(type="list", elements="str", choices=["release", "kernels"], default=["release", "kernels"]),
            paths=dict(type="list", elements="str", default=[]),
            read=dict(type="list", elements="str", default=[]),
            read_excludes=dict(type="list", elements="str", default=[]),
            glob=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    base = module.params["root"].rstrip("/")
    result = {"changed": False}
    if "release" in module.params["gather"]:
        result.update(read_release(base))
    if "kernels" in module.params["gather"]:
        result.update(read_kernels(module, base))
    result["exists"] = {path: os.path.lexists(base + "/" + path.lstrip("/")) for path in module.params["paths"]}
    result["contents"] = read_files(base, module.params["read"], module.params["read_excludes"])
    result["matched"] = {pattern: [{"path": path, "type": _kind(base + path)} for path in _glob(base, pattern)]
                         for pattern in module.params["glob"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
