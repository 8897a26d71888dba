#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: disk_clone
version_added: 0.1.0
short_description: Clone a PV root filesystem into a bootable partitioned disk, copying only used blocks
description:
  - Copies the root filesystem of a paravirtual (PV) machine's disk O(source) into partition 1 of O(destination),
    a disk an HVM instance can boot from.
  - The source may be a filesystem on the whole, unpartitioned disk (the usual PV layout) or a disk with a partition
    table; then its root partition is copied (the only one with a supported filesystem, or O(source_partition)).
  - Writes a new partition table on O(destination) with one bootable partition from 1 MiB to the end of the disk
    (C(msdos)), or for C(gpt) the root partition from 2 MiB to the end plus a 1 MiB C(bios_grub) partition in front
    of it for GRUB's core image.
  - Copies only the blocks the filesystem uses (ext2/3/4 with C(e2image -ra), xfs with C(xfs_copy)); every block
    only with O(copy_method=dd). Then checks the copy (C(e2fsck -f -y), or C(xfs_repair -n) after a mount that
    replays the log), gives it a new UUID (O(new_uuid)), grows it to fill the partition, optionally compares the
    content of both (O(verify=content)), and records a marker file C(/var/lib/pv2hvm/clone.json) inside the copy.
  - The source is only read, never written, mounted only read-only and without journal replay.
  - Refuses, before writing anything, LVM, btrfs, md RAID, LUKS and unknown filesystems, a source or destination
    that is mounted or in use, a destination smaller than the filesystem plus the partition table, an C(msdos) table
    on a disk above 2 TiB, and a destination holding data that is not a clone of this source (unless O(force)).
  - Idempotent through the marker. A destination that already holds a clone of this source, made with the same
    options, is left alone and the result says RV(ignore:changed=false).
  - Runs on the worker as root, on Xen and Nitro instances alike. Use M(cloudops.pv2hvm.block_device) to find the
    device paths of attached volumes.
author:
  - cloudops maintainers (@cloudops)
options:
  source:
    description:
      - The disk (or partition) holding the PV root filesystem, e.g. C(/dev/nvme1n1) or C(/dev/xvdf).
      - It must not be mounted; it is opened read-only.
    type: path
    required: true
  destination:
    description:
      - The whole disk to write, e.g. C(/dev/nvme2n1). Everything on it is replaced.
    type: path
    required: true
  partition_table:
    description:
      - C(msdos) writes an MBR partition table; it cannot address more than 2 TiB.
      - C(gpt) adds a C(bios_grub) partition so that GRUB can boot the disk from BIOS (HVM firmware); use it above
        2 TiB.
    type: str
    choices: [msdos, gpt]
    default: msdos
  source_partition:
    description:
      - Number of the partition to copy when the source has a partition table with more than one filesystem.
    type: int
  copy_method:
    description:
      - C(used-blocks) copies only the blocks the filesystem uses (C(e2image -ra) or C(xfs_copy)).
      - C(dd) copies every block of the filesystem, used or not. It is slower and fills the destination volume;
        use it only when the used-block tools misbehave.
    type: str
    choices: [used-blocks, dd]
    default: used-blocks
  new_uuid:
    description:
      - Give the copy a new random filesystem UUID (the label is kept), so the worker never holds two
        filesystems with the same UUID once the module returns. The old and new UUIDs are returned for
        rewriting C(/etc/fstab) and the boot loader configuration.
      - On XFS v5 (crc) filesystems the new UUID uses the C(metauuid) feature, which needs Linux 4.3 or later
        in the migrated machine; set C(false) for older guest kernels.
    type: bool
    default: true
  verify:
    description:
      - C(content) mounts the source and the copy read-only and compares a manifest of both trees (paths, types,
        permission bits, owners, sizes, SHA-256 of file data, symlink targets, device numbers, hard-link groups,
        extended attributes). The marker directory C(/var/lib/pv2hvm) is left out. Reads all data twice.
      - C(none) relies on the filesystem check alone.
    type: str
    choices: [none, content]
    default: none
  force:
    description:
      - Overwrite a destination that holds a filesystem which is not a clone of this source.
      - Without it such a destination is refused. A blank destination, an interrupted copy of this source and an
        earlier clone of this source are overwritten without O(force).
    type: bool
    default: false
  progress_file:
    description:
      - Path of a JSON file the module rewrites while it works, for a playbook that runs it with C(async) and
        C(poll=0) to show. It holds C(state) (C(running), C(done), C(failed)), C(phase), C(bytes_done),
        C(bytes_total), C(percent), C(rate_bytes_per_second), C(eta_seconds) and C(message).
      - Not written in check mode.
    type: path
  progress_interval:
    description:
      - Seconds between two updates of O(progress_file).
    type: float
    default: 5.0
  lock_timeout:
    description:
      - The module holds an exclusive BSD lock (C(flock)) on O(destination) while it works, as systemd's block device
        locking convention asks, so udev and a second copy leave the disk alone.
      - Seconds to wait for a lock another process holds, such as the copy of an interrupted run that still runs,
        before failing with that process named. Nothing is written before the lock is held.
    type: float
    default: 3600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Inspects both disks and returns RV(plan), the steps it would take; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs util-linux (C(sfdisk), C(partx), C(blkid), C(mount)), e2fsprogs and xfsprogs on the worker.
  - Only the root filesystem is copied. Other partitions of a partitioned source (a separate C(/boot), swap) are not.
  - A source snapshotted while mounted may carry an unreplayed journal. The copy gets it replayed by the check;
    the source stays as it is, so O(verify=content) may then report differences.
  - The result's RV(plan) says what was (or, in check mode, would be) done, step by step.
seealso:
  - module: cloudops.pv2hvm.block_device
"""

EXAMPLES = r"""
- name: Find the working copy of the PV root and the empty destination volume
  cloudops.pv2hvm.block_device:
    volume_id: "{{ item }}"
  loop:
    - "{{ working_copy_volume_id }}"
    - "{{ destination_volume_id }}"
  register: disks

- name: Clone the root into partition 1 of the destination, and compare the content
  cloudops.pv2hvm.disk_clone:
    source: "{{ disks.results[0].device }}"
    destination: "{{ disks.results[1].device }}"
    verify: content
  register: clone

- name: The UUIDs boot_config needs to rewrite fstab and grub
  ansible.builtin.debug:
    msg: "root {{ clone.destination.partition }}: UUID {{ clone.old_uuid }} -> {{ clone.new_uuid }}"

- name: A disk above 2 TiB needs GPT (with a bios_grub partition for GRUB)
  cloudops.pv2hvm.disk_clone:
    source: /dev/nvme1n1
    destination: /dev/nvme2n1
    partition_table: gpt

# A large volume takes a while: start the clone in the background, show its
# progress file until it is done, then collect the module's result.
- name: Start the clone
  cloudops.pv2hvm.disk_clone:
    source: /dev/nvme1n1
    destination: /dev/nvme2n1
    progress_file: /run/pv2hvm/clone-nvme2n1.json
    progress_interval: 5
  async: 21600
  poll: 0
  register: clone_job

- name: Wait for the clone, showing its progress at each poll
  ansible.builtin.command: cat /run/pv2hvm/clone-nvme2n1.json
  register: clone_progress
  changed_when: false
  until: clone_progress.rc == 0 and (clone_progress.stdout | from_json).state != 'running'
  retries: 4320
  delay: 5
  failed_when: false

- name: Progress at the end
  vars:
    progress: "{{ clone_progress.stdout | from_json }}"
  ansible.builtin.debug:
    msg: "{{ progress.state }} ({{ progress.phase }}): {{ progress.bytes_done }} of {{ progress.bytes_total }} bytes, {{ progress.message }}"

- name: Collect the clone's result (fails if the clone failed)
  ansible.builtin.async_status:
    jid: "{{ clone_job.ansible_job_id }}"
  register: clone
  until: clone.finished
  retries: 60
  delay: 5
"""

RETURN = r"""
plan:
  description: The steps taken, or in check mode the steps it would take.
  returned: always
  type: list
  elements: str
  sample: ["write an msdos partition table on /dev/nvme2n1: partition 1 from 1 MiB to the end, bootable",
           "copy the 1.1 GiB used by ext4 /dev/nvme1n1 to /dev/nvme2n1p1 with e2image -ra"]
msg:
  description: One line saying what happened.
  returned: always
  type: str
  sample: cloned ext4 /dev/nvme1n1 into /dev/nvme2n1p1 (msdos)
source:
  description: What was found on the source.
  returned: always
  type: dict
  contains:
    device:
      description: The source disk as given.
      type: str
      sample: /dev/nvme1n1
    layout:
      description: C(whole_disk) (a filesystem on the unpartitioned disk) or C(partitioned).
      type: str
      sample: whole_disk
    partition_table:
      description: Partition table type of a partitioned source, else null.
      type: str
      sample: null
    partition_number:
      description: Number of the copied partition of a partitioned source, else null.
      type: int
      sample: null
    filesystem_device:
      description: The device the filesystem was copied from.
      type: str
      sample: /dev/nvme1n1
    fstype:
      description: Filesystem type.
      type: str
      sample: ext4
    uuid:
      description: Filesystem UUID of the source.
      type: str
      sample: 3f92cd89-5f67-4d1c-ba97-2a80c563d248
    label:
      description: Filesystem label (kept on the copy), or an empty string.
      type: str
      sample: cloudimg-rootfs
    size_bytes:
      description: Size of the source device.
      type: int
      sample: 8589934592
    filesystem_size_bytes:
      description: Size of the filesystem.
      type: int
      sample: 8589934592
    used_bytes:
      description: Bytes in blocks the filesystem has allocated (data and metadata).
      type: int
      sample: 1233285120
  sample: {}
destination:
  description: The destination disk and the partition that holds the copy.
  returned: always
  type: dict
  contains:
    device:
      description: The destination disk.
      type: str
      sample: /dev/nvme2n1
    size_bytes:
      description: Size of the destination disk.
      type: int
      sample: 10737418240
    required_bytes:
      description: The smallest destination size that holds the filesystem and the partition table.
      type: int
      sample: 8590983168
    partition_table:
      description: C(msdos) or C(gpt).
      type: str
      sample: msdos
    partition:
      description: Device node of partition 1, the copied root filesystem.
      type: str
      sample: /dev/nvme2n1p1
    partition_start_bytes:
      description: Offset of partition 1 on the disk.
      type: int
      sample: 1048576
    partition_size_bytes:
      description: Size of partition 1 (the filesystem is grown to it).
      type: int
      sample: 10736369664
    bios_grub_partition:
      description: Device node of the C(bios_grub) partition (C(gpt) only), else null.
      type: str
      sample: null
  sample: {}
old_uuid:
  description: Filesystem UUID of the source (and of the copy before its new UUID).
  returned: always
  type: str
  sample: 3f92cd89-5f67-4d1c-ba97-2a80c563d248
new_uuid:
  description: Filesystem UUID of the copy; equals RV(old_uuid) with O(new_uuid=false); null in check mode.
  returned: always
  type: str
  sample: 6126b9ae-9987-485d-8329-0e4bf45eb727
label:
  description: Filesystem label of source and copy.
  returned: always
  type: str
  sample: cloudimg-rootfs
copy_method:
  description: The copy tool, C(e2image), C(xfs_copy) or C(dd).
  returned: always
  type: str
  sample: e2image
check:
  description: Result of the filesystem check of the copy.
  returned: when the copy was made in this run
  type: dict
  sample: {"tool": "e2fsck -f -y", "rc": 0, "corrected": false, "summary": "root: 11/65536 files (0.0% non-contiguous)"}
verify:
  description: Result of the content comparison.
  returned: when O(verify=content)
  type: dict
  contains:
    method:
      description: C(content).
      type: str
      sample: content
    entries:
      description: Number of paths compared.
      type: int
      sample: 48211
    differences:
      description: Number of paths that differ (the module fails when it is not 0).
      type: int
      sample: 0
  sample: {"method": "content", "entries": 48211, "differences": 0}
marker:
  description: The record kept in the copy at C(/var/lib/pv2hvm/clone.json) (source, UUIDs, method, time).
  returned: when the destination holds a clone (not in check mode for a new clone)
  type: dict
  sample: {"format": 1, "made_by": "cloudops.pv2hvm.disk_clone", "created_at": "2024-05-01T10:00:00Z"}
progress_file:
  description: The progress file written, or null.
  returned: always
  type: str
  sample: /run/pv2hvm/clone-nvme2n1.json
elapsed_seconds:
  description: Wall-clock time of the run.
  returned: always
  type: float
  sample: 42.7
"""

import datetime
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import block_devices
from ansible_collections.cloudops.pv2hvm.plugins.module_utils import clone_marker
from ansible_collections.cloudops.pv2hvm.plugins.module_utils import filesystems
from ansible_collections.cloudops.pv2hvm.plugins.module_utils import manifest
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.commands import run
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.mounts import mounted
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.partitions import MSDOS_MAX_SECTORS
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.partitions import Layout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.partitions import plan_layout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.progress import DONE, FAILED, Progress

MIB = 1 << 20
MARKER_DIR = clone_marker.MARKER_DIR
MARKER_FORMAT = clone_marker.MARKER_FORMAT


@dataclass
class Source:
    """The filesystem to copy and where it sits."""

    device: str
    layout: str  # whole_disk | partitioned
    partition_table: Optional[str]
    partition_number: Optional[int]
    fs_device: str
    fs: filesystems.FsInfo
    size_bytes: int

    def summary(self) -> Dict[str, Any]:
        return {
            "device": self.device, "layout": self.layout, "partition_table": self.partition_table,
            "partition_number": self.partition_number, "filesystem_device": self.fs_device,
            "fstype": self.fs.fstype, "uuid": self.fs.uuid, "label": self.fs.label, "size_bytes": self.size_bytes,
            "filesystem_size_bytes": self.fs.size_bytes, "used_bytes": self.fs.used_bytes,
        }


@dataclass
class Destination:
    device: str
    kname: str
    size_bytes: int
    layout: Layout

    @property
    def partition(self) -> str:
        """Partition 1, the copy of the root filesystem."""
        return block_devices.partition_node(self.kname, 1)

    def summary(self) -> Dict[str, Any]:
        return {
            "device": self.device, "size_bytes": self.size_bytes, "required_bytes": self.layout.required_bytes,
            "partition_table": self.layout.table,
            "partition": self.partition,
            "partition_start_bytes": self.layout.root_start * self.layout.sector_size,
            "partition_size_bytes": self.layout.root_sectors * self.layout.sector_size,
            "bios_grub_partition": block_devices.partition_node(self.kname, 2) if self.layout.table == "gpt" else None,
        }


class Refused(Pv2hvmError):
    """Bad input or an unsafe disk, found before anything was written."""


# ---- source ---------------------------------------------------------------------------------------


def inspect_source(module) -> Source:
    path = module.params["source"]
    kname = block_devices.kernel_name(path)
    reasons = block_devices.in_use(path)
    if reasons:
        raise Refused(f"source {path} is in use: {'; '.join(reasons)}. disk_clone reads an unmounted volume "
                      "(e.g. a working copy of the source snapshot): unmount it or attach a copy.", in_use=reasons)
    signature = block_devices.probe(module, path)
    if signature.get("PTTYPE"):
        number, fs_device, fs_signature = pick_root_partition(module, path, module.params["source_partition"])
        layout, table = "partitioned", signature["PTTYPE"]
    else:
        if module.params["source_partition"] is not None:
            raise Refused(f"source_partition is set but {path} has no partition table: leave source_partition out.")
        number, fs_device, fs_signature, layout, table = None, path, signature, "whole_disk", None
    fstype = filesystems.check_supported(fs_signature.get("TYPE"), fs_device)
    fs = filesystems.inspect(module, fs_device, fstype, fs_signature.get("UUID", ""), fs_signature.get("LABEL", ""))
    return Source(device=path, layout=layout, partition_table=table, partition_number=number,
                  fs_device=fs_device, fs=fs, size_bytes=block_devices.size_bytes(kname))


def pick_root_partition(module, path: str, wanted: Optional[int]) -> Tuple[int, str, Dict[str, str]]:
    """The partition to copy: the one asked for, or the only one with a supported filesystem."""
    nodes = block_devices.refresh_partitions(module, path)
    found = {}
    for node in nodes:
        found[block_devices.partition_number(node)] = (node, block_devices.probe(module, node))
    listing = ", ".join(f"{number}: {sig.get('TYPE') or 'no filesystem'}" for number, (node, sig) in sorted(found.items()))
    if wanted is not None:
        if wanted not in found:
            raise Refused(f"source_partition {wanted} does not exist on {path} (partitions: {listing or 'none'}).")
        node, signature = found[wanted]
        return wanted, node, signature
    candidates = [number for number, (node, sig) in found.items() if sig.get("TYPE") in filesystems.SUPPORTED]
    if len(candidates) == 1:
        node, signature = found[candidates[0]]
        return candidates[0], node, signature
    if not candidates:
        others = [(node, sig.get("TYPE")) for number, (node, sig) in sorted(found.items()) if sig.get("TYPE")]
        if others:  # say why the one filesystem there is refused (LVM, btrfs, ...)
            filesystems.check_supported(others[0][1], others[0][0])
        raise Refused(f"{path} has a {len(found)}-partition table but no partition holds a filesystem disk_clone "
                      f"copies ({listing or 'no partitions'}): is it the volume with the root filesystem?")
    raise Refused(f"{path} has several partitions with a filesystem ({listing}): set source_partition to the number "
                  "of the one that holds the root filesystem.")


# ---- destination --------------------------------------------------------------------------------


def inspect_destination(module, source: Source) -> Destination:
    path = module.params["destination"]
    kname = block_devices.kernel_name(path)
    if block_devices.is_partition(kname):
        raise Refused(f"destination {path} is a partition: give the whole disk (e.g. /dev/{block_devices.parent_disk(kname)}); "
                      "disk_clone writes its partition table.")
    if kname == block_devices.parent_disk(block_devices.kernel_name(source.device)):
        raise Refused(f"source and destination are the same disk (/dev/{kname}): the destination must be another volume.")
    reasons = block_devices.in_use(path)
    if reasons:
        raise Refused(f"destination {path} is in use: {'; '.join(reasons)}. Give an unused volume.", in_use=reasons)
    size = block_devices.size_bytes(kname)
    layout = plan_layout(module.params["partition_table"], size, block_devices.logical_sector_size(kname),
                         source.fs.size_bytes)
    if size < layout.required_bytes:
        raise Refused(
            f"destination {path} is too small: {human(size)} ({size} bytes), but the {source.fs.fstype} filesystem "
            f"is {human(source.fs.size_bytes)} and the {layout.table} partition table needs "
            f"{human(layout.required_bytes - source.fs.size_bytes)} more, so at least {layout.required_bytes} bytes. "
            f"Attach a volume of at least {-(-layout.required_bytes // (1 << 30))} GiB.",
            required_bytes=layout.required_bytes, size_bytes=size,
        )
    if layout.table == "msdos" and layout.disk_sectors > MSDOS_MAX_SECTORS:
        raise Refused(f"destination {path} is {human(size)}: an msdos partition table addresses only "
                      f"{human(MSDOS_MAX_SECTORS * layout.sector_size)}. Set partition_table: gpt.")
    return Destination(device=path, kname=kname, size_bytes=size, layout=layout)


def human(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


# ---- what the destination holds now --------------------------------------------------------------


def examine_destination(module, destination: Destination, source: Source) -> Tuple[str, Optional[Dict[str, Any]], str]:
    """(kind, marker, description) of the destination's current content.

    kind: blank, clone (marker found), partial (partition 1 still carries the source UUID: an
    interrupted copy), foreign (anything else).
    """
    signature = block_devices.probe(module, destination.device)
    if not signature:
        return "blank", None, ""
    if not signature.get("PTTYPE"):
        if signature.get("UUID") == source.fs.uuid:
            return "partial", None, ""
        return "foreign", None, f"a {describe_signature(signature)} on the whole disk"
    nodes = block_devices.refresh_partitions(module, destination.device)
    signatures = {node: block_devices.probe(module, node) for node in nodes}
    holding = {node: sig for node, sig in signatures.items() if sig.get("TYPE")}
    if not holding:
        return "blank", None, ""
    first = signatures.get(destination.partition, {})
    if first.get("TYPE") in filesystems.SUPPORTED:
        marker = read_marker(module, destination.partition, first["TYPE"])
        if marker:
            marker["current_uuid"] = first.get("UUID")
            return "clone", marker, ""
        if first.get("UUID") == source.fs.uuid:
            return "partial", None, ""
    return "foreign", None, "; ".join(f"{node}: {describe_signature(sig)}" for node, sig in sorted(holding.items()))


def describe_signature(signature: Dict[str, str]) -> str:
    return f"{signature.get('TYPE')} (UUID {signature.get('UUID') or '-'}, label {signature.get('LABEL') or '-'})"


def read_marker(module, device: str, fstype: str) -> Optional[Dict[str, Any]]:
    return clone_marker.read(module, device, fstype, "cloudops.pv2hvm.disk_clone")


def marker_matches(marker: Dict[str, Any], source: Source, destination: Destination, params: Dict[str, Any]) -> bool:
    """True when the marker records a clone of this source, as it is now, made with these options."""
    recorded = marker.get("source", {})
    changed_uuid = marker.get("new_uuid") != marker.get("old_uuid")
    return (recorded.get("uuid") == source.fs.uuid
            and recorded.get("fingerprint") == source.fs.fingerprint
            and recorded.get("filesystem_size_bytes") == source.fs.size_bytes
            and marker.get("partition_table") == params["partition_table"]
            and marker.get("partition_start_bytes") == destination.layout.root_start * destination.layout.sector_size
            and marker.get("current_uuid") == marker.get("new_uuid")
            and changed_uuid == params["new_uuid"])


# ---- the clone ----------------------------------------------------------------------------------


def plan_steps(source: Source, destination: Destination, params: Dict[str, Any], tool: str) -> List[str]:
    part = destination.partition
    layout = destination.layout
    if layout.table == "msdos":
        table = f"write an msdos partition table on {destination.device}: partition 1 from 1 MiB to the end, bootable"
    else:
        table = (f"write a gpt partition table on {destination.device}: partition 1 (root, legacy BIOS bootable) from "
                 f"2 MiB to the end, partition 2 bios_grub from 1 MiB to 2 MiB")
    copy = (f"copy all {human(source.fs.size_bytes)} of {source.fs.fstype} {source.fs_device} to {part} with dd"
            if tool == "dd" else
            f"copy the {human(source.fs.used_bytes)} used by {source.fs.fstype} {source.fs_device} to {part} with "
            + ("e2image -ra" if tool == "e2image" else "xfs_copy"))
    steps = [table, copy]
    if source.fs.fstype == "xfs":
        steps.append(f"mount {part} once to replay the xfs log")
    steps.append(f"check {part} with " + ("e2fsck -f -y" if source.fs.fstype in filesystems.EXT else "xfs_repair -n"))
    if params["new_uuid"]:
        steps.append(f"give {part} a new random UUID (source UUID {source.fs.uuid}, label {source.fs.label!r} kept)")
    steps.append(f"grow the filesystem to the partition ({human(layout.root_sectors * layout.sector_size)}) with "
                 + ("resize2fs" if source.fs.fstype in filesystems.EXT else "xfs_growfs"))
    if params["verify"] == "content":
        steps.append(f"mount {source.fs_device} and {part} read-only and compare their content manifests")
    steps.append(f"record /{clone_marker.MARKER_PATH} in {part}")
    return steps


def make_clone(module, source: Source, destination: Destination, tool: str, progress: Progress) -> Dict[str, Any]:
    params = module.params
    fstype = source.fs.fstype
    progress.phase("partition")
    run(module, ["sfdisk", "--wipe", "always", "--wipe-partitions", "always", destination.device],
        data=destination.layout.sfdisk_script())
    nodes = block_devices.refresh_partitions(module, destination.device)
    part = destination.partition
    if part not in nodes:
        raise Pv2hvmError(f"sfdisk wrote {destination.device} but partition 1 did not appear (found {nodes}).")

    copy_bytes = source.fs.size_bytes if tool == "dd" else source.fs.used_bytes
    progress.phase("copy", total=copy_bytes)
    work_dir = tempfile.mkdtemp(prefix="pv2hvm-clone-")
    try:
        run(module, filesystems.copy_argv(tool, source.fs_device, part, source.fs.size_bytes, work_dir),
            on_start=progress.watch)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    progress.complete()

    progress.phase("check")
    filesystems.replay_log(module, part, fstype)
    check = filesystems.check(module, part, fstype)
    if check["corrected"]:
        module.warn(f"e2fsck changed the copy {part} (a journal replay, or errors the source has too): {check['summary']}")

    new_uuid = source.fs.uuid
    if params["new_uuid"]:
        progress.phase("uuid")
        new_uuid = str(uuid.uuid4())
        filesystems.set_uuid(module, part, fstype, new_uuid)

    progress.phase("grow")
    filesystems.grow(module, part, fstype)

    result: Dict[str, Any] = {"check": check, "new_uuid": new_uuid}
    if params["verify"] == "content":
        result["verify"] = verify_content(module, source, part, [], progress)

    progress.phase("marker")
    result["marker"] = write_marker(module, part, source, destination, tool, new_uuid, result.get("verify"))
    clone_marker.sync_device(destination.device)
    return result


def verify_content(module, source: Source, part: str, created: List[str], progress: Progress) -> Dict[str, Any]:
    """Compare manifests of the source and the copy, both mounted read-only; fail on any difference."""
    progress.phase("verify", total=2 * source.fs.used_bytes)
    mount_type, options = filesystems.mount_args(source.fs.fstype, writable=False)
    with mounted(module, source.fs_device, mount_type, options) as source_root:
        wanted = manifest.build(source_root, exclude=[MARKER_DIR], on_bytes=progress.advance)
    with mounted(module, part, mount_type, options) as copy_root:
        found = manifest.build(copy_root, exclude=[MARKER_DIR] + created, on_bytes=progress.advance)
    count, lines = manifest.differences(wanted, found)
    if count:
        raise Pv2hvmError(
            f"the copy on {part} differs from {source.fs_device} in {count} path(s), e.g. {lines[0]}. "
            "The copy is not marked as done: check both disks for I/O errors (dmesg) and run again.",
            differences=lines,
        )
    return {"method": "content", "entries": len(wanted), "differences": 0}


def write_marker(module, part: str, source: Source, destination: Destination, tool: str, new_uuid: str,
                 verify: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Record the clone inside it: provenance for the migrated machine, and what makes a rerun a no-op."""
    marker = {
        "format": MARKER_FORMAT,
        "made_by": "cloudops.pv2hvm.disk_clone",
        "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": dict(source.summary(), fingerprint=source.fs.fingerprint),
        "old_uuid": source.fs.uuid,
        "new_uuid": new_uuid,
        "label": source.fs.label,
        "partition_table": destination.layout.table,
        "partition_start_bytes": destination.layout.root_start * destination.layout.sector_size,
        "copy_method": tool,
        "verify": verify,
    }
    return clone_marker.write(module, part, source.fs.fstype, marker)


# ---- module -------------------------------------------------------------------------------------


def check_params(module) -> None:
    params = module.params
    if params["source_partition"] is not None and params["source_partition"] < 1:
        module.fail_json(msg=f"source_partition must be a partition number (1 or more), got {params['source_partition']}.")
    if params["progress_interval"] <= 0:
        module.fail_json(msg=f"progress_interval must be more than 0 seconds, got {params['progress_interval']}.")
    if params["lock_timeout"] < 0:
        module.fail_json(msg=f"lock_timeout must be 0 seconds or more, got {params['lock_timeout']}.")
    if os.path.realpath(params["source"]) == os.path.realpath(params["destination"]):
        module.fail_json(msg=f"source and destination are both {params['source']}: the destination must be another volume.")


def clone(module, started: float) -> Dict[str, Any]:
    params = module.params
    source = inspect_source(module)
    destination = inspect_destination(module, source)
    tool = filesystems.copy_tool(source.fs.fstype, "dd" if params["copy_method"] == "dd" else "used-blocks")
    kind, marker, description = examine_destination(module, destination, source)
    base = {"source": source.summary(), "destination": destination.summary(), "old_uuid": source.fs.uuid,
            "label": source.fs.label, "progress_file": None if module.check_mode else params["progress_file"]}

    if kind == "clone" and marker_matches(marker, source, destination, params):
        return unchanged(module, source, destination, marker, base, started)
    if kind == "clone" and marker.get("source", {}).get("uuid") != source.fs.uuid:
        kind, description = "foreign", (f"a clone of another filesystem (UUID {marker.get('source', {}).get('uuid')}) "
                                        f"made {marker.get('created_at')}")
    if kind == "foreign" and not params["force"]:
        raise Refused(f"destination {destination.device} holds {description}, which is not a clone of {source.device}. "
                      "Check that it is the right volume; to overwrite it anyway set force: true.",
                      destination_content=description)

    steps = plan_steps(source, destination, params, tool)
    if module.check_mode:
        return dict(base, changed=True, plan=steps, new_uuid=None, copy_method=tool,
                    msg=f"would clone {source.fs.fstype} {source.fs_device} into {destination.device}",
                    elapsed_seconds=round(time.monotonic() - started, 1))

    progress = Progress(params["progress_file"], params["progress_interval"],
                        source=source.device, destination=destination.device).start()
    try:
        done = make_clone(module, source, destination, tool, progress)
    except BaseException as exc:
        progress.stop(FAILED, getattr(exc, "msg", None) or str(exc) or type(exc).__name__)
        raise
    message = f"cloned {source.fs.fstype} {source.fs_device} into {destination.partition} ({destination.layout.table})"
    progress.stop(DONE, message)
    result = dict(base, changed=True, plan=steps, copy_method=tool, msg=message)
    result.update(done)
    result["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return result


def unchanged(module, source: Source, destination: Destination, marker: Dict[str, Any], base: Dict[str, Any],
              started: float) -> Dict[str, Any]:
    """The destination already holds this clone: report it (and verify it if asked and never done)."""
    result = dict(base, changed=False, plan=[], new_uuid=marker.get("new_uuid"), copy_method=marker.get("copy_method"),
                  marker=marker, msg=f"{destination.device} already holds a clone of {source.device} made {marker.get('created_at')}")
    progress = Progress(None if module.check_mode else module.params["progress_file"], module.params["progress_interval"],
                        source=source.device, destination=destination.device).start()
    try:
        if marker.get("verify"):
            result["verify"] = marker["verify"]  # compared when the clone was made
        elif module.params["verify"] == "content":
            result["verify"] = verify_content(module, source, destination.partition,
                                              marker.get("created_directories", []), progress)
    except BaseException as exc:
        progress.stop(FAILED, getattr(exc, "msg", None) or str(exc) or type(exc).__name__)
        raise
    progress.stop(DONE, result["msg"])
    result["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="path", required=True),
            destination=dict(type="path", required=True),
            partition_table=dict(type="str", choices=["msdos", "gpt"], default="msdos"),
            source_partition=dict(type="int"),
            copy_method=dict(type="str", choices=["used-blocks", "dd"], default="used-blocks"),
            new_uuid=dict(type="bool", default=True),
            verify=dict(type="str", choices=["none", "content"], default="none"),
            force=dict(type="bool", default=False),
            progress_file=dict(type="path"),
            progress_interval=dict(type="float", default=5.0),
            lock_timeout=dict(type="float", default=3600),
        ),
        supports_check_mode=True,
    )
    started = time.monotonic()
    check_params(module)
    try:
        if module.check_mode:
            result = clone(module, started)
        else:
            with block_devices.exclusive_lock(module.params["destination"], module.params["lock_timeout"]):
                result = clone(module, started)
    except Pv2hvmError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
