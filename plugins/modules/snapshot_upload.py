#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: snapshot_upload
version_added: 0.2.0
short_description: Upload a local disk image as a new EBS snapshot with the EBS direct APIs
description:
  - Starts a snapshot (C(StartSnapshot)) tagged for its migration from the first request, writes every 512 KiB
    block of O(src) that is not all zeros (C(PutSnapshotBlock), each with its SHA-256 checksum, in parallel),
    seals it with the block count and the aggregate checksum (C(CompleteSnapshot)) and waits until EC2 reports
    it C(completed). Holes of a sparse O(src) are never read.
  - Then checks what EBS holds against what was sent - the blocks C(ListSnapshotBlocks) lists must be exactly
    the blocks written - and fails, leaving the tagged snapshot to the migration's rollback, if they differ.
  - Idempotent - a completed snapshot of the migration with the same purpose is found by its tags and nothing
    is uploaded. Resumable - a run killed half-way leaves a pending snapshot and a ledger next to O(src);
    the next run finds both and writes only the blocks still missing. A snapshot of the migration in the
    C(error) state is deleted and the upload starts again.
author:
  - cloudops maintainers (@cloudops)
options:
  src:
    description: The local disk image to upload, e.g. a converted HVM disk.
    type: path
    required: true
  migration_id:
    description: The migration the snapshot belongs to; tagged as C(pv2hvm:migration).
    type: str
    required: true
  purpose:
    description: The C(pv2hvm:purpose) tag; V(image) for a snapshot that becomes part of the HVM AMI.
    type: str
    choices: [image, destination]
    default: image
  source_device:
    description:
      - The source device the image stands for, tagged C(pv2hvm:source-device); it tells this upload from the
        migration's other snapshots (a data volume's snapshot has the same purpose).
    type: str
    default: root
  volume_size:
    description:
      - The snapshot's volume size in GiB. The default is O(src)'s size rounded up to whole GiB.
    type: int
  description:
    description: The snapshot's description.
    type: str
    default: ""
  encrypted:
    description:
      - Encrypt the snapshot. With no O(kms_key_arn), EBS uses the account's default key.
      - Give the source snapshot's encryption and key here so that the result is encrypted like the source.
    type: bool
    default: false
  kms_key_arn:
    description: The KMS key to encrypt with (implies O(encrypted)).
    type: str
  tags:
    description: Extra tags for the snapshot. The C(pv2hvm:) tags are always set and win over these.
    type: dict
    default: {}
  parallel:
    description: How many blocks are uploaded at once.
    type: int
    default: 16
  timeout_minutes:
    description:
      - StartSnapshot's Timeout - how long EBS keeps the snapshot pending before it fails it (10 to 4320).
    type: int
    default: 60
  wait_timeout:
    description: How many seconds to wait for the snapshot to be C(completed) once sealed.
    type: int
    default: 3600
notes:
  - The phases of O(progress_file) are C(upload), C(seal), then C(verify).
  - Supports check mode, which reads O(src) and reports how many blocks it would upload.
  - Needs C(ebs:StartSnapshot), C(ebs:PutSnapshotBlock), C(ebs:CompleteSnapshot) and C(ebs:ListSnapshotBlocks),
    C(ec2:DescribeSnapshots), C(ec2:DeleteSnapshot) (for a failed earlier upload) and, for an encrypted
    snapshot, the KMS key's C(kms:GenerateDataKey) and C(kms:Decrypt).
seealso:
  - module: cloudops.pv2hvm.snapshot_download
  - module: cloudops.pv2hvm.hvm_image
extends_documentation_fragment:
  - cloudops.pv2hvm.progress
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Upload the converted HVM disk as the AMI's root snapshot
  cloudops.pv2hvm.snapshot_upload:
    src: /var/tmp/pv2hvm/i-0123456789abcdef0.img
    migration_id: pv2hvm-i-0123456789abcdef0
    description: HVM root of i-0123456789abcdef0
  register: pv2hvm_upload

- name: Encrypted like the source
  cloudops.pv2hvm.snapshot_upload:
    src: /var/tmp/pv2hvm/i-0123456789abcdef0.img
    migration_id: pv2hvm-i-0123456789abcdef0
    encrypted: true
    kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab
"""

RETURN = r"""
snapshot_id:
  description: The snapshot (empty in check mode when none exists yet).
  returned: always
  type: str
  sample: snap-0123456789abcdef0
volume_size:
  description: The snapshot's volume size, in GiB.
  returned: always
  type: int
  sample: 9
blocks_uploaded:
  description: Blocks written in all (by this run and an interrupted earlier one); the snapshot holds exactly these.
  returned: always
  type: int
  sample: 1702
blocks_this_run:
  description: Blocks this run wrote.
  returned: always
  type: int
  sample: 1702
blocks_skipped_zero:
  description: Blocks of O(src) with data extents that were all zeros and so not uploaded.
  returned: always
  type: int
  sample: 12
bytes_uploaded:
  description: Bytes this run wrote.
  returned: always
  type: int
  sample: 892338176
resumed:
  description: Whether an interrupted earlier upload of the migration was continued.
  returned: always
  type: bool
  sample: false
"""

import math
import os
import threading
import uuid
from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import BLOCK_SIZE
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import GIB
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import Ledger
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import aggregate_checksum
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import checksum
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import data_blocks
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import ebs_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import is_zero
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import listed_blocks
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import read_exact
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import transfer
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import delete_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_snapshots
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.progress import DONE, FAILED, Progress
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_filters
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_SOURCE_DEVICE
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_tags
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import WaitTimeout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import wait_for


class UploadMismatch(Exception):
    pass


def ledger_path(src: str) -> str:
    return f"{src}.pv2hvm-upload.json"


class Upload:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.params = module.params
        self.ec2 = ec2_client(module)
        self.ebs = ebs_client(module)
        self.src = self.params["src"]
        self.volume_size = self.params["volume_size"] or max(1, math.ceil(os.path.getsize(self.src) / GIB))
        self.result: Dict[str, Any] = dict(snapshot_id="", volume_size=self.volume_size, blocks_uploaded=0, blocks_this_run=0,
                                           blocks_skipped_zero=0, bytes_uploaded=0, resumed=False)
        self._counting = threading.Lock()
        self.progress = Progress(None)  # replaced by the real one once the upload starts

    def fail(self, message: str) -> None:
        self.progress.stop(FAILED, message)
        self.module.fail_json(msg=message, **self.result)

    def ours(self) -> List[Dict[str, Any]]:
        """The migration's snapshots of this purpose, failed ones included."""
        filters = migration_filters(self.params["migration_id"], self.params["purpose"], self.params["source_device"])
        return find_own_snapshots(self.ec2, filters, include_failed=True)

    def tags(self) -> Dict[str, str]:
        tags = migration_tags(self.params["migration_id"], self.params["purpose"], self.params["tags"])
        tags[TAG_SOURCE_DEVICE] = self.params["source_device"]
        return tags

    def start(self) -> str:
        kms_key = self.params["kms_key_arn"]
        request: Dict[str, Any] = dict(
            VolumeSize=self.volume_size, Description=self.params["description"], Timeout=self.params["timeout_minutes"],
            Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()],
            # A retried request (botocore's retries resend it) returns the snapshot the first one started.
            ClientToken=str(uuid.uuid4()),
        )
        if self.params["encrypted"] or kms_key:
            request["Encrypted"] = True
        if kms_key:
            request["KmsKeyArn"] = kms_key
        return self.ebs.start_snapshot(aws_retry=True, **request)["SnapshotId"]

    def scan(self, ledger: Ledger, write: Optional[Any], todo: Optional[List[int]] = None) -> None:
        """Every data block of src not yet in the ledger (or `todo`): skipped if zero, else uploaded (if `write`)."""
        with open(self.src, "rb") as handle:

            def upload(index: int) -> None:
                data = read_exact(handle, index * BLOCK_SIZE)
                self.progress.advance(BLOCK_SIZE)
                if is_zero(data):
                    with self._counting:
                        self.result["blocks_skipped_zero"] += 1
                    return
                digest = checksum(data)
                if write is not None:
                    write(index, data, digest)
                    ledger.mark(index, digest)
                with self._counting:
                    self.result["blocks_this_run"] += 1
                    self.result["bytes_uploaded"] += len(data)

            blocks = todo if todo is not None else (index for index in data_blocks(self.src) if index not in ledger.done)
            transfer(blocks, upload, self.params["parallel"] if write is not None else 1)

    def run(self) -> None:
        params, result = self.params, self.result
        if self.volume_size * GIB < os.path.getsize(self.src):
            self.module.fail_json(msg=f"volume_size {self.volume_size} GiB is smaller than {self.src}; give at least "
                                      f"{math.ceil(os.path.getsize(self.src) / GIB)}.", **result)
        existing = self.ours()
        completed = [s for s in existing if s["State"] == "completed"]
        if completed:
            result.update(snapshot_id=completed[0]["SnapshotId"], volume_size=completed[0]["VolumeSize"])
            self.module.exit_json(changed=False, **result)
        failed = [s for s in existing if s["State"] == "error"]
        pending = [s for s in existing if s["State"] == "pending"]
        if self.module.check_mode:
            result["snapshot_id"] = pending[0]["SnapshotId"] if pending else ""
            self.scan(Ledger(ledger_path(self.src), {}), write=None)
            self.module.exit_json(changed=True, **result)
        for snapshot in failed:
            delete_snapshot(self.ec2, snapshot["SnapshotId"])
        snapshot_id = pending[0]["SnapshotId"] if pending else self.start()
        ledger = Ledger(ledger_path(self.src), {"snapshot_id": snapshot_id, "src_size": os.path.getsize(self.src)})
        result.update(snapshot_id=snapshot_id, resumed=ledger.load() or bool(pending))
        ledger.save()

        def write(index: int, data: bytes, digest: str) -> None:
            self.ebs.put_snapshot_block(aws_retry=True, SnapshotId=snapshot_id, BlockIndex=index, BlockData=data,
                                        DataLength=len(data), Checksum=digest, ChecksumAlgorithm="SHA256")

        todo = [index for index in data_blocks(self.src) if index not in ledger.done]
        self.progress = Progress(params["progress_file"], params["progress_interval"], src=self.src, snapshot_id=snapshot_id).start()
        self.progress.phase("upload", total=len(todo) * BLOCK_SIZE)
        self.scan(ledger, write, todo)
        ledger.save()
        self.progress.phase("seal")
        result["blocks_uploaded"] = len(ledger.done)
        sealed = self.ebs.complete_snapshot(
            aws_retry=True, SnapshotId=snapshot_id, ChangedBlocksCount=len(ledger.done), Checksum=aggregate_checksum(ledger.done),
            ChecksumAlgorithm="SHA256", ChecksumAggregationMethod="LINEAR")
        if sealed.get("Status") == "error":
            ledger.remove()
            raise UploadMismatch(f"EBS put {snapshot_id} in the error state when it was sealed with {len(ledger.done)} blocks")
        wait_for(self.ec2, "snapshot_completed", params["wait_timeout"], SnapshotIds=[snapshot_id])
        self.progress.phase("verify")
        _size, held = listed_blocks(self.ebs, snapshot_id)
        if {index for index, _token in held} != set(ledger.done):
            raise UploadMismatch(f"{snapshot_id} holds {len(held)} blocks but {len(ledger.done)} were uploaded")
        ledger.remove()
        self.progress.stop(DONE, f"uploaded {self.src} as {snapshot_id}")
        self.module.exit_json(changed=True, **result)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            migration_id=dict(type="str", required=True),
            purpose=dict(type="str", choices=["image", "destination"], default="image"),
            source_device=dict(type="str", default="root"),
            volume_size=dict(type="int"),
            description=dict(type="str", default=""),
            encrypted=dict(type="bool", default=False),
            kms_key_arn=dict(type="str", no_log=False),
            tags=dict(type="dict", default={}),
            parallel=dict(type="int", default=16),
            timeout_minutes=dict(type="int", default=60),
            wait_timeout=dict(type="int", default=3600),
            progress_file=dict(type="path"),
            progress_interval=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isfile(params["src"]):
        module.fail_json(msg=f"src {params['src']} is not a file: give the disk image to upload.")
    if not 1 <= params["parallel"] <= 64:
        module.fail_json(msg=f"parallel must be 1 to 64, got {params['parallel']}.")
    if not 10 <= params["timeout_minutes"] <= 4320:
        module.fail_json(msg=f"timeout_minutes must be 10 to 4320 (StartSnapshot's Timeout), got {params['timeout_minutes']}.")
    if params["progress_interval"] <= 0:
        module.fail_json(msg=f"progress_interval must be more than 0 seconds, got {params['progress_interval']}.")
    upload = Upload(module)
    try:
        upload.run()
    except UploadMismatch as error:
        upload.fail(f"{error}. The snapshot is tagged {params['migration_id']}: cleanup removes it; run the upload again.")
    except WaitTimeout as error:
        upload.fail(f"{error}. Run it again to go on waiting.")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        upload.progress.stop(FAILED, str(error))
        fail_aws(module, error, f"Uploading {params['src']} stopped after {upload.result['blocks_this_run']} blocks; run it again to continue",
                 **upload.result)


if __name__ == "__main__":
    main()
