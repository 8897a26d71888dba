# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Moving snapshot blocks with the EBS direct APIs: the client, checksums, and a parallel transfer.

A snapshot is read and written in 512 KiB blocks over HTTPS, each with a Base64 SHA-256 checksum.
Transfers run in a bounded thread pool (at most `parallel` blocks in flight, so memory stays at
`parallel` x 512 KiB whatever the image size) and keep a ledger of the blocks done, rewritten atomically
every few seconds, so that a run killed half-way continues where it stopped.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

try:
    from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
except ImportError:  # pragma: no cover - amazon.aws is a dependency of the collection
    AWSRetry = None

BLOCK_SIZE = 512 * 1024
GIB = 1024**3
# Besides the usual throttling and 5xx, EBS direct answers these when an account pushes too hard.
RETRIED_CODES = ["RequestThrottledException", "ServiceQuotaExceededException", "InternalServerException"]


def ebs_client(module: Any) -> Any:
    """An EBS direct client whose calls (aws_retry=True) retry throttling with jittered backoff."""
    return module.client("ebs", retry_decorator=AWSRetry.jittered_backoff(retries=10, catch_extra_error_codes=RETRIED_CODES))


def checksum(data: bytes) -> str:
    """The Base64 SHA-256 EBS direct uses for a block."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def aggregate_checksum(checksums: Dict[int, str]) -> str:
    """CompleteSnapshot's LINEAR aggregate: the block checksums in index order, concatenated, hashed."""
    return checksum("".join(checksums[index] for index in sorted(checksums)).encode())


def snapshot_block_pages(client: Any, snapshot_id: str) -> Iterator[Dict[str, Any]]:
    """Every ListSnapshotBlocks page of a snapshot (each lists blocks that hold data), following NextToken."""
    request: Dict[str, Any] = {"SnapshotId": snapshot_id, "MaxResults": 10000}
    while True:
        page = client.list_snapshot_blocks(aws_retry=True, **request)
        yield page
        if not page.get("NextToken"):
            return
        request["NextToken"] = page["NextToken"]


def listed_blocks(client: Any, snapshot_id: str) -> Tuple[int, List[Tuple[int, str]]]:
    """(volume size in GiB, [(block index, block token)]) of every block holding data, all pages."""
    blocks: List[Tuple[int, str]] = []
    volume_size = 0
    for page in snapshot_block_pages(client, snapshot_id):
        if page.get("BlockSize", BLOCK_SIZE) != BLOCK_SIZE:
            raise ValueError(f"{snapshot_id} reports blocks of {page['BlockSize']} bytes; this module moves {BLOCK_SIZE}-byte blocks")
        blocks.extend((block["BlockIndex"], block["BlockToken"]) for block in page.get("Blocks", []))
        volume_size = page["VolumeSize"]
    return volume_size, blocks


def written_blocks(client: Any, snapshot_id: str) -> Dict[str, int]:
    """{blocks, block_size, volume_size} of a snapshot: how many blocks hold data (metadata only, no block is read)."""
    count, block_size, volume_size = 0, BLOCK_SIZE, 0
    for page in snapshot_block_pages(client, snapshot_id):
        count += len(page.get("Blocks", []))
        block_size = page.get("BlockSize", block_size)
        volume_size = page.get("VolumeSize", volume_size)
    return {"blocks": count, "block_size": block_size, "volume_size": volume_size}


def data_blocks(path: str) -> Iterator[int]:
    """Indexes of the 512 KiB blocks of a (sparse) file that have data extents; holes are never read."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset, last = 0, -1
        while offset < size:
            try:
                start = os.lseek(handle.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                return
            end = os.lseek(handle.fileno(), start, os.SEEK_HOLE)
            for index in range(max(start // BLOCK_SIZE, last + 1), (end - 1) // BLOCK_SIZE + 1):
                last = index
                yield index
            offset = end


class Ledger:
    """Which blocks a transfer has done, in a JSON file next to its image, written atomically."""

    def __init__(self, path: str, identity: Dict[str, Any], interval: float = 2.0) -> None:
        self.path = path
        self.identity = identity
        self.interval = interval
        self.done: Dict[int, str] = {}  # block index -> checksum ("" where none is kept)
        self.complete = False  # the whole transfer finished
        self._lock = threading.Lock()
        self._written_at = 0.0

    def load(self) -> bool:
        """Take over the blocks of an earlier run of the same transfer; False if there is none."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError):
            return False
        if document.get("identity") != self.identity:
            return False
        self.done = {int(index): value for index, value in document.get("done", {}).items()}
        self.complete = bool(document.get("complete"))
        return True

    def mark(self, index: int, value: str = "") -> None:
        with self._lock:
            self.done[index] = value
            due = time.monotonic() - self._written_at >= self.interval
        if due:
            self.save()

    def save(self) -> None:
        with self._lock:
            document = json.dumps({"identity": self.identity, "complete": self.complete,
                                   "done": {str(i): v for i, v in sorted(self.done.items())}})
            self._written_at = time.monotonic()
        directory = os.path.dirname(os.path.abspath(self.path))
        handle, temporary = tempfile.mkstemp(prefix=".ledger-", dir=directory)
        with os.fdopen(handle, "w") as stream:
            stream.write(document + "\n")
        os.replace(temporary, self.path)

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def transfer(items: Iterable[Any], work: Callable[[Any], None], parallel: int) -> None:
    """Run `work` on every item, at most `parallel` at a time; the first error stops the rest and is raised."""
    pending: set = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="pv2hvm-block") as pool:
        try:
            for item in items:
                if len(pending) >= parallel:
                    finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                pending.add(pool.submit(work, item))
            for future in concurrent.futures.as_completed(pending):
                future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def read_exact(handle: Any, offset: int, length: int = BLOCK_SIZE) -> bytes:
    """`length` bytes at `offset`, zero-padded past the end of the file."""
    return os.pread(handle.fileno(), length, offset).ljust(length, b"\0")


def is_zero(data: bytes) -> bool:
    return not data.strip(b"\0")


def as_bytes(body: Any) -> bytes:
    """GetSnapshotBlock's streaming body, read whole (one block)."""
    return body.read() if hasattr(body, "read") else bytes(body)
