#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: snapshot_download
version_added: 0.2.0
short_description: Download an EBS snapshot's blocks into a local disk image with the EBS direct APIs
description:
  - Lists the blocks of O(snapshot_id) that hold data (C(ListSnapshotBlocks)) and downloads only those
    (C(GetSnapshotBlock)), in parallel, into the sparse file O(dest). Block I(i) lands at
    O(offset) + I(i) x 512 KiB, so with the default offset of 1 MiB the download of a PV root filesystem is
    already the first partition of an HVM disk image and no second copy is made.
  - Every block is checked against the SHA-256 checksum EBS sends with it; a damaged block is fetched again,
    and one that keeps arriving damaged fails the module naming the block.
  - Memory stays bounded (O(parallel) blocks in flight). A ledger next to O(dest) records the blocks done,
    so a run killed half-way continues where it stopped; the ledger stays, marked complete, so that a
    re-run changes nothing.
  - The snapshot is only ever read.
author:
  - cloudops maintainers (@cloudops)
options:
  snapshot_id:
    description: The snapshot to read, e.g. the PV source's root snapshot.
    type: str
    required: true
  dest:
    description:
      - The local disk image to write (created sparse). A file that this module did not write for the same
        snapshot, offset and size is refused, never overwritten.
    type: path
    required: true
  offset:
    description:
      - Where block 0 of the snapshot lands in O(dest), in bytes; a multiple of 512.
      - The default, 1 MiB, is where the HVM disk's first partition starts. V(0) makes a raw copy.
    type: int
    default: 1048576
  size:
    description:
      - The size of O(dest) in bytes. The default is O(offset) plus the snapshot's volume size.
      - It must hold O(offset) plus the volume, so a larger HVM disk can be planned here.
    type: int
  head_bytes:
    description:
      - Download only the blocks that hold the first O(head_bytes) of the volume (whole 512 KiB blocks); the rest
        of O(dest) stays a hole.
      - Enough to read a data volume's partition table and filesystem ids (e.g. 8 MiB) without moving the volume.
      - V(0), the default, downloads every block that holds data.
    type: int
    default: 0
    version_added: 0.2.0
  parallel:
    description: How many blocks are downloaded at once.
    type: int
    default: 16
notes:
  - The phases of O(progress_file) are C(download).
  - Supports check mode, which lists the blocks and writes nothing.
  - Needs the C(ebs:ListSnapshotBlocks) and C(ebs:GetSnapshotBlock) permissions on the snapshot, and the
    KMS key's C(kms:Decrypt) when the snapshot is encrypted.
  - Each GetSnapshotBlock is a request EBS bills per thousand; see the README's cost model.
seealso:
  - module: cloudops.pv2hvm.snapshot_upload
  - module: cloudops.pv2hvm.disk_clone
extends_documentation_fragment:
  - cloudops.pv2hvm.progress
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Download the PV root snapshot as the first partition of an HVM disk image
  cloudops.pv2hvm.snapshot_download:
    snapshot_id: snap-0123456789abcdef0
    dest: /var/tmp/pv2hvm/i-0123456789abcdef0.img
    size: "{{ (9 * 1024 * 1024 * 1024) }}"
  register: pv2hvm_download

- name: A raw copy of a snapshot
  cloudops.pv2hvm.snapshot_download:
    snapshot_id: snap-0123456789abcdef0
    dest: /var/tmp/data.img
    offset: 0

- name: Only the start of a data volume, to read its filesystem ids
  cloudops.pv2hvm.snapshot_download:
    snapshot_id: snap-0fedcba9876543210
    dest: /var/tmp/data-head.img
    offset: 0
    head_bytes: 8388608
"""

RETURN = r"""
dest:
  description: The disk image written.
  returned: always
  type: str
  sample: /var/tmp/pv2hvm/i-0123456789abcdef0.img
volume_size:
  description: The snapshot's volume size, in GiB.
  returned: always
  type: int
  sample: 8
size:
  description: The size of O(dest) in bytes.
  returned: always
  type: int
  sample: 9663676416
blocks_listed:
  description: Blocks of the snapshot that hold data (what C(ListSnapshotBlocks) listed; within O(head_bytes) if set).
  returned: always
  type: int
  sample: 1630
blocks_downloaded:
  description: Blocks this run downloaded (the others were done by an earlier, interrupted run, or none in check mode).
  returned: always
  type: int
  sample: 1630
blocks_retried:
  description: Blocks that arrived damaged (checksum mismatch) and were fetched again.
  returned: always
  type: int
  sample: 0
bytes_downloaded:
  description: Bytes this run downloaded.
  returned: always
  type: int
  sample: 854589440
"""

import os
import threading
from typing import Any, Dict

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import BLOCK_SIZE
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import GIB
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import Ledger
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import as_bytes
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import checksum
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import ebs_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import listed_blocks
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import transfer
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.progress import DONE, FAILED, Progress

ATTEMPTS = 3  # fetches of a block whose checksum does not match before giving up


class DamagedBlock(Exception):
    pass


def ledger_path(dest: str) -> str:
    return f"{dest}.pv2hvm-download.json"


def fetch(client: Any, snapshot_id: str, index: int, token: str) -> tuple:
    """One block's bytes, checked against EBS's checksum; (data, retries)."""
    for attempt in range(ATTEMPTS):
        answer = client.get_snapshot_block(aws_retry=True, SnapshotId=snapshot_id, BlockIndex=index, BlockToken=token)
        data = as_bytes(answer["BlockData"])
        if answer.get("ChecksumAlgorithm", "SHA256") == "SHA256" and checksum(data) == answer.get("Checksum"):
            return data, attempt
    raise DamagedBlock(f"block {index} of {snapshot_id} arrived damaged {ATTEMPTS} times (its SHA-256 never matched EBS's checksum)")


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            snapshot_id=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            offset=dict(type="int", default=1024 * 1024),
            size=dict(type="int"),
            head_bytes=dict(type="int", default=0),
            parallel=dict(type="int", default=16),
            progress_file=dict(type="path"),
            progress_interval=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["offset"] < 0 or params["offset"] % 512:
        module.fail_json(msg=f"offset must be a non-negative multiple of 512, got {params['offset']}.")
    if params["head_bytes"] < 0:
        module.fail_json(msg=f"head_bytes must be 0 (every block) or a number of bytes, got {params['head_bytes']}.")
    if params["progress_interval"] <= 0:
        module.fail_json(msg=f"progress_interval must be more than 0 seconds, got {params['progress_interval']}.")
    if not 1 <= params["parallel"] <= 64:
        module.fail_json(msg=f"parallel must be 1 to 64, got {params['parallel']}.")
    client = ebs_client(module)
    snapshot_id, dest = params["snapshot_id"], params["dest"]
    try:
        volume_size, blocks = listed_blocks(client, snapshot_id)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        fail_aws(module, error, f"Could not list the blocks of {snapshot_id}")
    except ValueError as error:
        module.fail_json(msg=str(error))
    if params["head_bytes"]:
        blocks = [(index, token) for index, token in blocks if index * BLOCK_SIZE < params["head_bytes"]]
    size = params["size"] or params["offset"] + volume_size * GIB
    if size < params["offset"] + volume_size * GIB:
        module.fail_json(msg=(f"size {size} cannot hold the {volume_size} GiB of {snapshot_id} at offset {params['offset']}: "
                              f"give at least {params['offset'] + volume_size * GIB} bytes."))
    result: Dict[str, Any] = dict(dest=dest, volume_size=volume_size, size=size, blocks_listed=len(blocks),
                                  blocks_downloaded=0, blocks_retried=0, bytes_downloaded=0)
    identity = {"snapshot_id": snapshot_id, "offset": params["offset"], "size": size, "head_bytes": params["head_bytes"]}
    ledger = Ledger(ledger_path(dest), identity)
    resumed = ledger.load()
    if resumed and ledger.complete and os.path.exists(dest) and os.path.getsize(dest) == size:
        module.exit_json(changed=False, **result)
    if os.path.exists(dest) and not resumed:
        module.fail_json(msg=(f"{dest} exists and was not written by a download of {snapshot_id} at offset {params['offset']} "
                              f"and size {size}: remove it or choose another dest. Nothing was written."), **result)
    if module.check_mode:
        module.exit_json(changed=True, **result)

    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    todo = [(index, token) for index, token in blocks if index not in ledger.done]
    with open(dest, "ab") as handle:
        handle.truncate(size)
    ledger.save()
    progress = Progress(params["progress_file"], params["progress_interval"], snapshot_id=snapshot_id, dest=dest).start()
    progress.phase("download", total=len(todo) * BLOCK_SIZE)
    counting = threading.Lock()
    with open(dest, "r+b") as handle:

        def download(block: tuple) -> None:
            index, token = block
            data, retries = fetch(client, snapshot_id, index, token)
            os.pwrite(handle.fileno(), data, params["offset"] + index * BLOCK_SIZE)
            with counting:
                result["blocks_retried"] += min(retries, 1)
                result["blocks_downloaded"] += 1
                result["bytes_downloaded"] += len(data)
            ledger.mark(index)
            progress.advance(len(data))

        try:
            transfer(todo, download, params["parallel"])
            os.fsync(handle.fileno())
        except DamagedBlock as error:
            ledger.save()
            progress.stop(FAILED, str(error))
            module.fail_json(msg=f"{error}. Run it again to fetch the rest; the blocks done are kept.", **result)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            ledger.save()
            progress.stop(FAILED, str(error))
            fail_aws(module, error, f"Downloading {snapshot_id} stopped after {result['blocks_downloaded']} blocks; run it again to continue",
                     **result)
    ledger.complete = True
    ledger.save()
    progress.stop(DONE, f"downloaded {result['blocks_downloaded']} blocks of {snapshot_id}")
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
