#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: snapshot_usage_info
version_added: 0.2.0
short_description: Measure the bytes of an EBS snapshot that hold data, from its block list
description:
  - Counts the blocks of a snapshot that hold data with the EBS direct API C(ListSnapshotBlocks), every page, and
    returns them as bytes (blocks x block size) - what a copy of the volume moves. No block is read.
  - Given O(volume_id), it measures the newest completed snapshot of that volume (the account's own, with
    C(DescribeSnapshots)), e.g. the root volume of a PV instance.
  - A measure it cannot make is an answer, not a failure - the volume has no completed snapshot, or
    C(ListSnapshotBlocks) is refused (no permission, an encrypted snapshot whose key may not be used, EBS direct
    not offered there) - RV(used_bytes) is then null and RV(reason) says why, so that the caller can count the
    whole volume instead.
  - Read-only. It never changes anything.
author:
  - cloudops maintainers (@cloudops)
options:
  snapshot_id:
    description:
      - The snapshot to measure, e.g. an AMI's root snapshot.
      - Exactly one of O(snapshot_id) and O(volume_id) is required.
    type: str
  volume_id:
    description:
      - The volume whose newest completed snapshot is measured.
      - Exactly one of O(snapshot_id) and O(volume_id) is required.
    type: str
notes:
  - Supports check mode; the module never changes anything.
  - Needs C(ebs:ListSnapshotBlocks) (and C(kms:Decrypt) for an encrypted snapshot), and C(ec2:DescribeSnapshots)
    with O(volume_id).
  - A block counts once it was written, even where the filesystem has freed it since, so RV(used_bytes) is at
    least what the filesystem uses - and exactly what M(cloudops.pv2hvm.snapshot_download) would move. A snapshot
    is as old as its RV(snapshot_start_time); the volume may hold more by now.
  - Each page (up to 10,000 blocks, 5 GiB of data) is one request, which EBS bills per thousand.
seealso:
  - module: cloudops.pv2hvm.source_info
  - module: cloudops.pv2hvm.snapshot_download
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Inspect the PV AMI
  cloudops.pv2hvm.source_info:
    image_id: ami-0123456789abcdef0
  register: pv2hvm_source

- name: Measure its root snapshot
  cloudops.pv2hvm.snapshot_usage_info:
    snapshot_id: "{{ pv2hvm_source.root_snapshot.snapshot_id }}"
  register: pv2hvm_root_usage

- name: Measure a PV instance's root from the newest snapshot of its root volume, in another region
  cloudops.pv2hvm.snapshot_usage_info:
    volume_id: vol-0123456789abcdef0
    region: eu-west-1
  register: pv2hvm_root_usage

- name: Copy time at 100 MiB/s, or the whole volume's when the snapshot could not be measured
  ansible.builtin.debug:
    msg: >-
      {{ ((pv2hvm_root_usage.used_bytes if pv2hvm_root_usage.used_bytes is not none else 8 * 1024 ** 3)
          / 1024 ** 2 / 100) | round }} s{{ '' if pv2hvm_root_usage.used_bytes is not none else ' (' ~ pv2hvm_root_usage.reason ~ ')' }}
"""

RETURN = r"""
snapshot_id:
  description: The snapshot measured (empty when O(volume_id) has no completed snapshot).
  returned: always
  type: str
  sample: snap-0123456789abcdef0
snapshot_start_time:
  description: When the snapshot measured was taken (ISO 8601), with O(volume_id); empty otherwise.
  returned: always
  type: str
  sample: "2026-12-05T10:04:19+00:00"
volume_id:
  description: The volume given in O(volume_id), else empty.
  returned: always
  type: str
  sample: vol-0123456789abcdef0
volume_size:
  description: The snapshot's volume size in GiB, as C(ListSnapshotBlocks) reports it (0 when not measured).
  returned: always
  type: int
  sample: 8
blocks:
  description: Blocks of the snapshot that hold data (0 when not measured).
  returned: always
  type: int
  sample: 1630
block_size:
  description: The size of a block in bytes, as C(ListSnapshotBlocks) reports it (512 KiB).
  returned: always
  type: int
  sample: 524288
used_bytes:
  description: RV(blocks) x RV(block_size); null when the snapshot could not be measured (see RV(reason)).
  returned: always
  type: int
  sample: 854589440
reason:
  description: Why RV(used_bytes) is null, with the AWS error code where there is one; empty when it was measured.
  returned: always
  type: str
  sample: "ebs:ListSnapshotBlocks on snap-0123456789abcdef0 was refused (AccessDeniedException): User is not authorized"
"""

from typing import Any, Dict, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import BLOCK_SIZE
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import ebs_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import written_blocks
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import error_code
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_snapshots


def newest_completed_snapshot(client: Any, volume_id: str) -> Optional[Dict[str, Any]]:
    filters = [{"Name": "volume-id", "Values": [volume_id]}, {"Name": "status", "Values": ["completed"]}]
    snapshots = [s for s in find_own_snapshots(client, filters) if s["State"] == "completed"]
    return max(snapshots, key=lambda snapshot: snapshot["StartTime"]) if snapshots else None


def unmeasured(reason: str, **known: Any) -> Dict[str, Any]:
    result = dict(snapshot_id="", snapshot_start_time="", volume_id="", volume_size=0, blocks=0, block_size=BLOCK_SIZE,
                  used_bytes=None, reason=reason)
    result.update(known)
    return result


def measure(module: AnsibleAWSModule, snapshot_id: str, **known: Any) -> Dict[str, Any]:
    """The snapshot's written bytes; a refused or failed ListSnapshotBlocks is the reason, not a failure."""
    try:
        listed = written_blocks(ebs_client(module), snapshot_id)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        # An answer from EBS (e.g. AccessDeniedException) was a refusal; no answer (e.g. no endpoint there) a failure.
        if error_code(error):
            what, message = f"was refused ({error_code(error)})", error.response.get("Error", {}).get("Message", "")
        else:
            what, message = f"failed ({type(error).__name__})", to_native(error)
        reason = f"ebs:ListSnapshotBlocks on {snapshot_id} {what}" + (f": {message}" if message else "")
        return unmeasured(reason, snapshot_id=snapshot_id, **known)
    result = unmeasured("", snapshot_id=snapshot_id, **known)
    result.update(listed, used_bytes=listed["blocks"] * listed["block_size"])
    return result


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            snapshot_id=dict(type="str"),
            volume_id=dict(type="str"),
        ),
        mutually_exclusive=[("snapshot_id", "volume_id")],
        required_one_of=[("snapshot_id", "volume_id")],
        supports_check_mode=True,
    )
    volume_id = module.params["volume_id"]
    if not volume_id:
        module.exit_json(changed=False, **measure(module, module.params["snapshot_id"]))
    try:
        snapshot = newest_completed_snapshot(ec2_client(module), volume_id)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        fail_aws(module, error, f"Could not find the snapshots of {volume_id}")
    if snapshot is None:
        module.exit_json(changed=False, **unmeasured(f"{volume_id} has no completed snapshot", volume_id=volume_id))
    module.exit_json(changed=False, **measure(module, snapshot["SnapshotId"], volume_id=volume_id,
                                              snapshot_start_time=snapshot["StartTime"].isoformat()))


if __name__ == "__main__":
    main()
