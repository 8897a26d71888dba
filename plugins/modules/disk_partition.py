#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: disk_partition
version_added: 0.2.0
short_description: Make a bootable partitioned disk of a root filesystem that already sits where partition 1 starts
description:
  - For a disk (usually a loop device on a disk image) whose PV root filesystem was written at the offset of the HVM
    partition 1 - 1 MiB for C(msdos), 2 MiB for C(gpt) - as M(cloudops.pv2hvm.snapshot_download) does with its
    default offset. No byte of the filesystem is moved.
  - Writes the partition table around the filesystem (partition 1 from that offset to the end of the disk, bootable;
    for C(gpt) also the 1 MiB C(bios_grub) partition), without wiping any signature. Then checks the filesystem
    (C(e2fsck -f -y), or C(xfs_repair -n) after a mount that replays the log), gives it a new UUID (O(new_uuid)),
    grows it to fill the partition and records a marker file C(/var/lib/pv2hvm/clone.json) inside it, as
    M(cloudops.pv2hvm.disk_clone) does for a copy.
  - The marker is written once before the UUID changes, with the old UUID, so that a run killed half-way is
    finished by the next one with the UUID the guest's C(/etc/fstab) names.
  - Refuses, before writing anything, a partition, a disk in use, a disk with a partition table whose partition 1
    does not start at that offset, a filesystem on the whole disk, and no filesystem (or LVM, btrfs, LUKS, ...) at
    the offset.
  - Idempotent through the marker. A disk already made is left alone and the result says RV(ignore:changed=false).
author:
  - cloudops maintainers (@cloudops)
options:
  device:
    description:
      - The whole disk, e.g. the loop device of a downloaded HVM disk image (C(losetup --find --show --partscan)).
    type: path
    required: true
  partition_table:
    description:
      - C(msdos) (an MBR, up to 2 TiB) expects the filesystem at 1 MiB; C(gpt) (with C(bios_grub)) at 2 MiB.
    type: str
    choices: [msdos, gpt]
    default: msdos
  new_uuid:
    description:
      - Give the filesystem a new random UUID (the label is kept), so that the HVM image never shares one with the
        PV source. On XFS v5 filesystems it uses the C(metauuid) feature (Linux 4.3 or later in the guest).
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait for the exclusive BSD lock (C(flock)) on O(device) that another process holds.
    type: float
    default: 600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Inspects the disk and returns RV(plan), the steps it would take; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs as root. Needs C(sfdisk), C(blkid) (util-linux), C(e2fsprogs) or C(xfsprogs).
seealso:
  - module: cloudops.pv2hvm.snapshot_download
  - module: cloudops.pv2hvm.disk_clone
"""

EXAMPLES = r"""
- name: Attach the downloaded HVM disk image
  ansible.builtin.command:
    argv: [losetup, --find, --show, --partscan, /var/tmp/pv2hvm/i-0123456789abcdef0.img]
  register: hvm_loop
  changed_when: true

- name: Write the partition table around the root filesystem, new UUID, grown
  cloudops.pv2hvm.disk_partition:
    device: "{{ hvm_loop.stdout }}"
  register: hvm_disk

- name: Show the filesystem's UUIDs
  ansible.builtin.debug:
    msg: "{{ hvm_disk.destination.partition }}: {{ hvm_disk.old_uuid }} -> {{ hvm_disk.new_uuid }}"
"""

RETURN = r"""
source:
  description: The filesystem as found, before this run changed it.
  returned: always
  type: dict
  sample: {"device": "/dev/loop3", "fstype": "ext4", "uuid": "0b9d...", "label": "root", "filesystem_device": "/dev/loop3p1"}
destination:
  description: The disk and its partition 1.
  returned: always
  type: dict
  sample: {"device": "/dev/loop3", "partition": "/dev/loop3p1", "partition_table": "msdos", "partition_start_bytes": 1048576}
old_uuid:
  description: The filesystem's UUID before the conversion (what the guest's fstab and boot loader name).
  returned: always
  type: str
  sample: 0b9d6c34-5a0e-4c3e-9d0b-6f1d2c8a1e77
new_uuid:
  description: Its UUID now (null in check mode).
  returned: always
  type: str
  sample: 5f0e2d7c-2b7a-4a39-8c51-3c1bb1c0a9e2
label:
  description: The filesystem label (kept).
  returned: always
  type: str
  sample: root
copy_method:
  description: Always C(in-place), for reports that compare it with M(cloudops.pv2hvm.disk_clone)'s.
  returned: always
  type: str
  sample: in-place
check:
  description: The filesystem check (tool, rc, whether it corrected anything, its last line).
  returned: when changed and not in check mode
  type: dict
  sample: {"tool": "e2fsck -f -y", "rc": 0, "corrected": false, "summary": "..."}
plan:
  description: The steps taken (or, in check mode, that would be taken).
  returned: always
  type: list
  elements: str
  sample: ["write an msdos partition table on /dev/loop3 around the ext4 filesystem at 1 MiB"]
marker:
  description: The marker recorded in the filesystem.
  returned: when the disk was made (not in check mode)
  type: dict
  sample: {"made_by": "cloudops.pv2hvm.disk_partition", "state": "done"}
msg:
  description: What was done.
  returned: always
  type: str
  sample: wrote an msdos partition table around ext4 at 1 MiB on /dev/loop3
"""

import datetime
import os
import uuid
from typing import Any, Dict, List, Optional

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import block_devices
from ansible_collections.cloudops.pv2hvm.plugins.module_utils import clone_marker
from ansible_collections.cloudops.pv2hvm.plugins.module_utils import filesystems
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.commands import run
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.partitions import MIB
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.partitions import MSDOS_MAX_SECTORS
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.partitions import plan_layout

MADE_BY = "cloudops.pv2hvm.disk_partition"
PENDING = "pending"
DONE = "done"


class Refused(Pv2hvmError):
    """Bad input or an unsafe disk, found before anything was written."""


def probe_at(module, device: str, offset: int) -> Dict[str, str]:
    """What blkid finds at a byte offset of a disk (a filesystem that has no partition yet)."""
    _rc, stdout, _err = run(module, ["blkid", "-p", "-o", "export", "-O", str(offset), device], ok_rcs=(0, 2))
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def partition_start(kname: str) -> int:
    with open(f"/sys/class/block/{kname}/start") as handle:
        return int(handle.read()) * 512


class Disk:
    """The disk, its planned partition 1 and what sits there now."""

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.device = self.params["device"]
        self.kname = block_devices.kernel_name(self.device)
        if block_devices.is_partition(self.kname):
            raise Refused(f"{self.device} is a partition: give the whole disk (e.g. /dev/{block_devices.parent_disk(self.kname)}).")
        reasons = block_devices.in_use(self.device)
        if reasons:
            raise Refused(f"{self.device} is in use: {'; '.join(reasons)}. Unmount it first.", in_use=reasons)
        self.size = block_devices.size_bytes(self.kname)
        self.layout = plan_layout(self.params["partition_table"], self.size, block_devices.logical_sector_size(self.kname), 0)
        self.start = self.layout.root_start * self.layout.sector_size
        if self.layout.table == "msdos" and self.layout.disk_sectors > MSDOS_MAX_SECTORS:
            raise Refused(f"{self.device} is larger than an msdos partition table addresses (2 TiB): set partition_table: gpt.")
        self.partition = block_devices.partition_node(self.kname, 1)
        self.has_table = False
        self.signature = self.find_filesystem()
        self.fstype = filesystems.check_supported(self.signature.get("TYPE"), f"{self.device} at {self.start // MIB} MiB")

    def find_filesystem(self) -> Dict[str, str]:
        whole = block_devices.probe(self.module, self.device)
        if whole.get("PTTYPE"):
            nodes = block_devices.refresh_partitions(self.module, self.device)
            part_kname = os.path.basename(self.partition)
            if self.partition not in nodes or partition_start(part_kname) != self.start:
                raise Refused(f"{self.device} already has a {whole['PTTYPE']} partition table whose partition 1 does not start at "
                              f"{self.start // MIB} MiB: it is not a disk image with the root filesystem there. Nothing was written.")
            self.has_table = True
            return block_devices.probe(self.module, self.partition)
        if whole.get("TYPE"):
            raise Refused(f"{self.device} holds {whole['TYPE']} on the whole disk, at 0: the filesystem must start at "
                          f"{self.start // MIB} MiB (snapshot_download with offset={self.start}). Nothing was written.")
        return probe_at(self.module, self.device, self.start)

    def summary(self) -> Dict[str, Any]:
        return {"device": self.device, "size_bytes": self.size, "partition": self.partition, "partition_table": self.layout.table,
                "partition_start_bytes": self.start, "partition_size_bytes": self.layout.root_sectors * self.layout.sector_size,
                "bios_grub_partition": block_devices.partition_node(self.kname, 2) if self.layout.table == "gpt" else None}


def plan_steps(disk: Disk, new_uuid: bool) -> List[str]:
    steps = [] if disk.has_table else [
        f"write an {disk.layout.table} partition table on {disk.device} around the {disk.fstype} filesystem at "
        f"{disk.start // MIB} MiB (partition 1 to the end of the disk, nothing wiped)"]
    steps.append(f"check {disk.partition} with " + ("e2fsck -f -y" if disk.fstype in filesystems.EXT else "xfs_repair -n"))
    if new_uuid:
        steps.append(f"give {disk.partition} a new random UUID (label kept)")
    steps.append(f"grow the filesystem to the partition with {'resize2fs' if disk.fstype in filesystems.EXT else 'xfs_growfs'}")
    steps.append(f"record /{clone_marker.MARKER_PATH} in {disk.partition}")
    return steps


def marker_document(disk: Disk, state: str, old_uuid: str, new_uuid: str, label: str) -> Dict[str, Any]:
    return {
        "format": clone_marker.MARKER_FORMAT, "made_by": MADE_BY, "state": state,
        "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "old_uuid": old_uuid, "new_uuid": new_uuid, "label": label, "partition_table": disk.layout.table,
        "partition_start_bytes": disk.start, "copy_method": "in-place",
    }


def make(module, disk: Disk, pending: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if not disk.has_table:
        run(module, ["sfdisk", "--wipe", "never", "--wipe-partitions", "never", disk.device], data=disk.layout.sfdisk_script())
        if disk.partition not in block_devices.refresh_partitions(module, disk.device):
            raise Pv2hvmError(f"sfdisk wrote {disk.device} but partition 1 did not appear.")
    part, fstype = disk.partition, disk.fstype
    fs = filesystems.inspect(module, part, fstype, disk.signature.get("UUID", ""), disk.signature.get("LABEL", ""))
    partition_bytes = disk.layout.root_sectors * disk.layout.sector_size
    if fs.size_bytes > partition_bytes:
        raise Pv2hvmError(f"the {fstype} filesystem ({fs.size_bytes} bytes) is larger than partition 1 ({partition_bytes} bytes): "
                          "the image is too small; download it again with a larger size.")
    filesystems.replay_log(module, part, fstype)
    # The UUID the guest's configuration names: this run's, or the one an interrupted run recorded before changing it.
    old_uuid = pending["old_uuid"] if pending else fs.uuid
    marker = clone_marker.write(module, part, fstype, marker_document(disk, PENDING, old_uuid, "", fs.label))
    # After the marker's mount: tune2fs changes the UUID of a freshly checked filesystem only.
    check = filesystems.check(module, part, fstype)
    if check["corrected"]:
        module.warn(f"e2fsck changed {part} (a journal replay, or errors the source has too): {check['summary']}")
    new_uuid = old_uuid
    if module.params["new_uuid"]:
        new_uuid = str(uuid.uuid4())
        filesystems.set_uuid(module, part, fstype, new_uuid)
    filesystems.grow(module, part, fstype)
    marker = clone_marker.write(module, part, fstype, dict(marker_document(disk, DONE, old_uuid, new_uuid, fs.label),
                                                           created_directories=marker["created_directories"]))
    clone_marker.sync_device(disk.device)
    return {"check": check, "old_uuid": old_uuid, "new_uuid": new_uuid, "label": fs.label, "marker": marker}


def partition_disk(module) -> Dict[str, Any]:
    disk = Disk(module)
    marker = clone_marker.read(module, disk.partition, disk.fstype, MADE_BY) if disk.has_table else None
    base = {"source": {"device": disk.device, "fstype": disk.fstype, "uuid": disk.signature.get("UUID", ""),
                       "label": disk.signature.get("LABEL", ""), "filesystem_device": disk.partition},
            "destination": disk.summary(), "copy_method": "in-place"}
    done = (marker and marker.get("state") == DONE and marker.get("partition_table") == disk.layout.table
            and marker.get("new_uuid") == disk.signature.get("UUID")
            and (marker.get("new_uuid") != marker.get("old_uuid")) == module.params["new_uuid"])
    if done:
        base["source"].update(uuid=marker["old_uuid"])
        return dict(base, changed=False, plan=[], old_uuid=marker["old_uuid"], new_uuid=marker["new_uuid"], label=marker["label"],
                    marker=marker, msg=f"{disk.device} already is a partitioned disk made {marker.get('created_at')}")
    pending = marker if marker and marker.get("state") == PENDING else None
    steps = plan_steps(disk, module.params["new_uuid"])
    old_uuid = pending["old_uuid"] if pending else disk.signature.get("UUID", "")
    if module.check_mode:
        return dict(base, changed=True, plan=steps, old_uuid=old_uuid, new_uuid=None, label=disk.signature.get("LABEL", ""),
                    msg=f"would make {disk.device} a partitioned disk around its {disk.fstype} filesystem")
    result = make(module, disk, pending)
    base["source"].update(uuid=result["old_uuid"])
    message = f"made {disk.device} an {disk.layout.table} disk around {disk.fstype} at {disk.start // MIB} MiB"
    if pending:
        message += " (finishing an interrupted run)"
    return dict(base, changed=True, plan=steps, msg=message, **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            device=dict(type="path", required=True),
            partition_table=dict(type="str", choices=["msdos", "gpt"], default="msdos"),
            new_uuid=dict(type="bool", default=True),
            lock_timeout=dict(type="float", default=600),
        ),
        supports_check_mode=True,
    )
    if module.params["lock_timeout"] < 0:
        module.fail_json(msg=f"lock_timeout must be 0 seconds or more, got {module.params['lock_timeout']}.")
    try:
        if module.check_mode:
            result = partition_disk(module)
        else:
            with block_devices.exclusive_lock(module.params["device"], module.params["lock_timeout"]):
                result = partition_disk(module)
    except Pv2hvmError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
