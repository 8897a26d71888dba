"""The EBS direct APIs as the AWS API reference documents them, over the lab's snapshot bytes.

moto 5.2.5 serves the `ebs` service, but not as AWS does; each difference below is restored here and
has its own test in tests/unit/lab/test_ebs_direct_fidelity.py (which fails against stock moto):

- BlockSize: moto reports 512; AWS's block is 512 KiB (524288), and every BlockIndex counts in it.
- Which snapshots: moto only knows snapshots it started itself (any other id is a server error); AWS
  reads every snapshot, e.g. one CreateSnapshot made, and lists the blocks that hold data.
- Block tokens: moto ignores GetSnapshotBlock's BlockToken; AWS refuses a token ListSnapshotBlocks did
  not give for that block (ValidationException INVALID_BLOCK_TOKEN).
- Checksums: moto takes PutSnapshotBlock's checksum at face value and echoes it on reads; AWS checks it
  against the data (a mismatch fails the request) and computes the one GetSnapshotBlock returns.
- Block size on writes: AWS takes only whole 512 KiB blocks (DataLength 524288) inside the volume.
- StartSnapshot: moto creates an EC2 volume for it (a real call creates none, the snapshot's VolumeId
  is vol-ffffffff), ignores ClientToken (a retried call starts a second snapshot), Encrypted, KmsKeyArn
  and Timeout, and the snapshot is at once "completed"; on AWS it is "pending" until CompleteSnapshot.
- CompleteSnapshot: moto ignores ChangedBlocksCount and the aggregate checksum; AWS seals only what was
  written. The API reference does not say what a wrong count does; the lab puts the snapshot in the
  "error" state, so that a client that miscounts fails loudly instead of shipping a partial snapshot.
- Pagination: moto ignores MaxResults, NextToken and StartingBlockIndex.

The bytes: with the lab's data plane (tests/lab/ebs.py) a snapshot is its sparse file, so a snapshot
written here is what a volume made from it, and qemu, see; without it (the state-only lab) blocks are
kept in memory. A block "holds data" when the sparse file has an extent there (it was written).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ebs.responses import EBSResponse
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import Snapshot, Volume
from moto.ec2.utils import random_snapshot_id

BLOCK_SIZE = 512 * 1024
GIB = 1024**3
# A snapshot StartSnapshot made has no volume; EC2 reports this id for it.
NO_VOLUME_ID = "vol-ffffffff"
TOKEN_LIFETIME = datetime.timedelta(days=7)
_SECRET = os.urandom(16)
_LOCK = threading.RLock()


class EbsDirectError(ServiceException):
    """An error the way EBS direct answers: a modelled exception with its Reason."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        super().__init__(code, message)
        # The model's member name, which the serializer looks up on the exception.
        self.Reason = reason  # pylint: disable=invalid-name


@dataclass
class Started:
    """A snapshot StartSnapshot began and CompleteSnapshot has not sealed."""

    snapshot_id: str
    volume_size: int
    request: dict[str, Any]
    deadline: datetime.datetime
    checksums: dict[int, str] = field(default_factory=dict)  # block index -> its base64 SHA-256


class BlockStore:
    """Blocks of snapshots: the data plane's sparse files, or memory without one."""

    def __init__(self) -> None:
        self.plane: Any = None
        self.memory: dict[str, dict[int, bytes]] = {}

    def create(self, snapshot_id: str, volume_size: int) -> None:
        if self.plane is not None:
            with open(self.plane.snapshot_file(snapshot_id), "wb") as handle:
                handle.truncate(volume_size * GIB)
        else:
            self.memory[snapshot_id] = {}

    def indexes(self, snapshot_id: str) -> list[int]:
        if self.plane is None:
            return sorted(self.memory.get(snapshot_id, {}))
        path = self.plane.snapshot_file(snapshot_id)
        return sorted(set(_extent_blocks(path))) if path.exists() else []

    def read(self, snapshot_id: str, index: int) -> bytes:
        if self.plane is None:
            return self.memory.get(snapshot_id, {}).get(index, bytes(BLOCK_SIZE))
        with open(self.plane.snapshot_file(snapshot_id), "rb") as handle:
            return os.pread(handle.fileno(), BLOCK_SIZE, index * BLOCK_SIZE).ljust(BLOCK_SIZE, b"\0")

    def write(self, snapshot_id: str, index: int, data: bytes) -> None:
        if self.plane is None:
            self.memory.setdefault(snapshot_id, {})[index] = data
            return
        with open(self.plane.snapshot_file(snapshot_id), "r+b") as handle:
            os.pwrite(handle.fileno(), data, index * BLOCK_SIZE)


def _extent_blocks(path: Any) -> Iterator[int]:
    """The 512 KiB blocks a sparse file has data in (SEEK_DATA/SEEK_HOLE)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(handle.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after offset
                return
            end = os.lseek(handle.fileno(), start, os.SEEK_HOLE)
            yield from range(start // BLOCK_SIZE, (end - 1) // BLOCK_SIZE + 1)
            offset = end


STORE = BlockStore()
_STARTED: dict[str, Started] = {}
_BY_CLIENT_TOKEN: dict[str, str] = {}
# A fault for tests: the next N GetSnapshotBlock answers carry one flipped byte (and the true block's checksum),
# as a block damaged on the way would.
_DAMAGED_READS = [0]


def damage_reads(count: int) -> None:
    _DAMAGED_READS[0] = count


def serve(plane: Any) -> None:
    """Serve snapshot blocks from the data plane's files (tests/lab/ebs.py calls it)."""
    STORE.plane = plane


def unserve(plane: Any) -> None:
    if STORE.plane is plane:
        STORE.plane = None


def reset() -> None:
    """Forget every started snapshot and in-memory block (with moto's reset)."""
    with _LOCK:
        _STARTED.clear()
        _BY_CLIENT_TOKEN.clear()
        _DAMAGED_READS[0] = 0
        STORE.memory.clear()


def checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _token(snapshot_id: str, index: int) -> str:
    return base64.b64encode(hmac.new(_SECRET, f"{snapshot_id}/{index}".encode(), hashlib.sha256).digest()).decode()


def _ec2(response: EBSResponse) -> Any:
    return ec2_backends[response.current_account][response.region]


def _snapshot(response: EBSResponse, snapshot_id: str) -> Any:
    snapshot = _ec2(response).snapshots.get(snapshot_id)
    if snapshot is None:
        raise EbsDirectError("ResourceNotFoundException", "SNAPSHOT_NOT_FOUND", f"The snapshot '{snapshot_id}' does not exist.")
    return snapshot


def _pending(response: EBSResponse, snapshot_id: str) -> Started:
    _snapshot(response, snapshot_id)
    started = _STARTED.get(snapshot_id)
    if started is None:
        raise EbsDirectError("ValidationException", "INVALID_SNAPSHOT_ID", f"The snapshot '{snapshot_id}' is not pending.")
    if datetime.datetime.now(datetime.timezone.utc) > started.deadline:
        _fail(response, started)
        raise EbsDirectError("ValidationException", "WRITE_REQUEST_TIMEOUT", f"The snapshot '{snapshot_id}' timed out and is in error.")
    return started


def _fail(response: EBSResponse, started: Started) -> None:
    _ec2(response).snapshots[started.snapshot_id].status = "error"
    _STARTED.pop(started.snapshot_id, None)


def start_snapshot(self: EBSResponse) -> ActionResult:
    """StartSnapshot: a pending snapshot with no volume; a ClientToken makes a retry return the same one."""
    request = {name: self._get_param(name) for name in ("VolumeSize", "Description", "Encrypted", "KmsKeyArn", "ParentSnapshotId")}
    tags = self._get_param("Tags") or []
    client_token = self._get_param("ClientToken")
    timeout = self._get_param("Timeout") or 60
    if request["ParentSnapshotId"]:
        raise EbsDirectError("ValidationException", "INVALID_PARAMETER_VALUE", "The lab does not implement ParentSnapshotId.")
    if not 1 <= (request["VolumeSize"] or 0) <= 65536:
        raise EbsDirectError("ValidationException", "INVALID_VOLUME_SIZE", "VolumeSize must be 1 to 65536 GiB.")
    ec2 = _ec2(self)
    with _LOCK:
        if client_token and client_token in _BY_CLIENT_TOKEN:
            existing = _BY_CLIENT_TOKEN[client_token]
            if _STARTED.get(existing) is None or _STARTED[existing].request != request:
                raise EbsDirectError("ConflictException", "", "The ClientToken was used with other parameters, or its snapshot is no longer pending.")
            return ActionResult(_described(ec2.snapshots[existing], _STARTED[existing]))
        key = request["KmsKeyArn"] or (f"arn:aws:kms:{self.region}:{self.current_account}:alias/aws/ebs" if request["Encrypted"] else None)
        volume = Volume(ec2, NO_VOLUME_ID, request["VolumeSize"], None, encrypted=bool(key), kms_key_id=key)
        snapshot = Snapshot(ec2, random_snapshot_id(), volume, request["Description"] or "", encrypted=bool(key), kms_key_id=key)
        snapshot.status = "pending"
        snapshot.add_tags({tag["Key"]: tag["Value"] for tag in tags})
        ec2.snapshots[snapshot.id] = snapshot
        STORE.create(snapshot.id, request["VolumeSize"])
        deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=timeout)
        _STARTED[snapshot.id] = Started(snapshot.id, request["VolumeSize"], request, deadline)
        if client_token:
            _BY_CLIENT_TOKEN[client_token] = snapshot.id
    return ActionResult(_described(snapshot, _STARTED[snapshot.id]))


def _described(snapshot: Any, started: Started) -> dict[str, Any]:
    return {
        "SnapshotId": snapshot.id, "OwnerId": snapshot.owner_id, "Status": snapshot.status, "StartTime": snapshot.start_time,
        "VolumeSize": started.volume_size, "BlockSize": BLOCK_SIZE, "Description": snapshot.description,
        "Tags": [{"Key": key, "Value": value} for key, value in snapshot.get_tags_dict().items()] if hasattr(snapshot, "get_tags_dict")
        else [{"Key": tag["key"], "Value": tag["value"]} for tag in snapshot.get_tags()],
        "KmsKeyArn": snapshot.kms_key_id, "SseType": "sse-ebs" if snapshot.encrypted else "none",
    }


def put_snapshot_block(self: EBSResponse) -> ActionResult:
    """PutSnapshotBlock: whole 512 KiB blocks of a pending snapshot, each checked against its SHA-256."""
    snapshot_id, index = self._get_param("SnapshotId"), int(self._get_param("BlockIndex"))
    data = self._get_param("BlockData") or b""
    if isinstance(data, str):
        data = data.encode("latin-1")
    with _LOCK:
        started = _pending(self, snapshot_id)
        if self._get_param("ChecksumAlgorithm") != "SHA256":
            raise EbsDirectError("ValidationException", "INVALID_PARAMETER_VALUE", "ChecksumAlgorithm must be SHA256.")
        if int(self._get_param("DataLength") or 0) != BLOCK_SIZE or len(data) != BLOCK_SIZE:
            raise EbsDirectError("ValidationException", "INVALID_PARAMETER_VALUE", f"DataLength must be {BLOCK_SIZE} (a whole block).")
        if not 0 <= index < started.volume_size * GIB // BLOCK_SIZE:
            raise EbsDirectError("ValidationException", "INVALID_BLOCK", f"Block {index} is outside the {started.volume_size} GiB volume.")
        computed = checksum(data)
        if self._get_param("Checksum") != computed:
            raise EbsDirectError("ValidationException", "INVALID_PARAMETER_VALUE",
                                 "The checksum of the data does not match the Checksum given.")
        STORE.write(snapshot_id, index, data)
        started.checksums[index] = computed
    return ActionResult({"Checksum": computed, "ChecksumAlgorithm": "SHA256"})


def complete_snapshot(self: EBSResponse) -> ActionResult:
    """CompleteSnapshot: seals what was written; a wrong count or aggregate checksum puts it in error."""
    snapshot_id = self._get_param("SnapshotId")
    count = int(self._get_param("ChangedBlocksCount") if self._get_param("ChangedBlocksCount") is not None else -1)
    aggregate = self._get_param("Checksum")
    with _LOCK:
        started = _pending(self, snapshot_id)
        expected = checksum("".join(started.checksums[i] for i in sorted(started.checksums)).encode())
        if count != len(started.checksums) or (aggregate and aggregate != expected):
            _fail(self, started)
            return ActionResult({"Status": "error"})
        _ec2(self).snapshots[snapshot_id].status = "completed"
        del _STARTED[snapshot_id]
    return ActionResult({"Status": "completed"})


def list_snapshot_blocks(self: EBSResponse) -> ActionResult:
    """ListSnapshotBlocks: the blocks holding data, 512 KiB each, with tokens; paginated as documented."""
    snapshot = _snapshot(self, self._get_param("SnapshotId"))
    limit = int(self._get_param("MaxResults") or 10000)
    start = int(self._get_param("StartingBlockIndex") or 0)
    next_token = self._get_param("NextToken")
    if next_token:
        try:
            start = int(base64.b64decode(next_token).decode().split("/", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError) as error:
            raise EbsDirectError("ValidationException", "INVALID_PAGE_TOKEN", "The NextToken is not valid.") from error
    if snapshot.status != "completed":
        raise EbsDirectError("ValidationException", "INVALID_SNAPSHOT_ID", f"The snapshot '{snapshot.id}' is {snapshot.status}, not completed.")
    indexes = [index for index in STORE.indexes(snapshot.id) if index >= start]
    page, rest = indexes[:limit], indexes[limit:]
    result: dict[str, Any] = {
        "Blocks": [{"BlockIndex": index, "BlockToken": _token(snapshot.id, index)} for index in page],
        "ExpiryTime": datetime.datetime.now(datetime.timezone.utc) + TOKEN_LIFETIME,
        "VolumeSize": snapshot.volume.size, "BlockSize": BLOCK_SIZE,
    }
    if rest:
        result["NextToken"] = base64.b64encode(f"{snapshot.id}/{rest[0]}".encode()).decode()
    return ActionResult(result)


def get_snapshot_block(self: EBSResponse) -> ActionResult:
    """GetSnapshotBlock: one block's bytes for a token ListSnapshotBlocks gave, with EBS's own checksum."""
    snapshot = _snapshot(self, self._get_param("SnapshotId"))
    index = int(self._get_param("BlockIndex"))
    if not hmac.compare_digest(self._get_param("BlockToken") or "", _token(snapshot.id, index)):
        raise EbsDirectError("ValidationException", "INVALID_BLOCK_TOKEN", f"The block token is not valid for block {index} of {snapshot.id}.")
    data = STORE.read(snapshot.id, index)
    sent = data
    with _LOCK:
        if _DAMAGED_READS[0] > 0:
            _DAMAGED_READS[0] -= 1
            sent = bytes([data[0] ^ 0xFF]) + data[1:]
    return ActionResult({"DataLength": len(sent), "BlockData": sent, "Checksum": checksum(data), "ChecksumAlgorithm": "SHA256"})


_PATCHES: list[tuple[str, Callable[..., Any]]] = [
    ("start_snapshot", start_snapshot),
    ("put_snapshot_block", put_snapshot_block),
    ("complete_snapshot", complete_snapshot),
    ("list_snapshot_blocks", list_snapshot_blocks),
    ("get_snapshot_block", get_snapshot_block),
]


def install() -> None:
    """Patch moto's ebs responses in this process (idempotent); fidelity.install() calls it."""
    for name, replacement in _PATCHES:
        if EBSResponse.__dict__.get(name) is None:
            raise RuntimeError(f"moto no longer defines EBSResponse.{name}; tests/lab/ebs_direct.py must be updated.")
        setattr(EBSResponse, name, replacement)


def installed() -> bool:
    return all(EBSResponse.__dict__.get(name) is replacement for name, replacement in _PATCHES)
