"""cloudops.pv2hvm.snapshot_usage_info against the lab: a snapshot's written bytes, or why they are unknown."""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import checksum, written_blocks

from tests.lab.ebs_direct import BLOCK_SIZE
from tests.lab.world import WORKER_AZ


def written_snapshot(lab: Any, indexes: list[int]) -> str:
    """A completed 1 GiB snapshot holding data in the given 512 KiB blocks, written as AWS allows it (EBS direct)."""
    ebs = lab.client("ebs")
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    block = b"pv2hvm" * (BLOCK_SIZE // 6) + bytes(BLOCK_SIZE % 6)
    for index in indexes:
        ebs.put_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockData=block, DataLength=BLOCK_SIZE,
                               Checksum=checksum(block), ChecksumAlgorithm="SHA256")
    aggregate = checksum((checksum(block) * len(indexes)).encode())
    ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=len(indexes), Checksum=aggregate,
                          ChecksumAlgorithm="SHA256", ChecksumAggregationMethod="LINEAR")
    return snapshot_id


def test_a_snapshot_measures_as_its_written_blocks_in_check_mode_too(module: Any, lab: Any) -> None:
    snapshot_id = written_snapshot(lab, [0, 1, 7, 2047])
    for check_mode in (False, True):
        usage = module("snapshot_usage_info", check_mode=check_mode, snapshot_id=snapshot_id)
        assert not usage.failed and usage.changed is False, usage
        assert (usage["used_bytes"], usage["blocks"], usage["block_size"], usage["volume_size"]) == (4 * BLOCK_SIZE, 4, BLOCK_SIZE, 1)
        assert (usage["snapshot_id"], usage["reason"]) == (snapshot_id, "")
    assert module.operations() == {"ListSnapshotBlocks"}


def test_a_volume_measures_as_its_newest_completed_snapshot(module: Any, ec2: Any) -> None:
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    ec2.create_snapshot(VolumeId=volume)
    time.sleep(1.1)  # StartTime counts whole seconds
    newest = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    usage = module("snapshot_usage_info", volume_id=volume)
    assert not usage.failed and usage.changed is False, usage
    # A lab volume never written holds no block: nothing to copy.
    assert (usage["snapshot_id"], usage["volume_id"], usage["used_bytes"], usage["reason"]) == (newest, volume, 0, "")
    assert usage["snapshot_start_time"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert module.operations() == {"DescribeSnapshots", "ListSnapshotBlocks"}
    assert module.requests("ListSnapshotBlocks")[0]["SnapshotId"] == newest


def test_no_snapshot_or_a_refusal_is_a_reason_not_a_failure(module: Any, ec2: Any, lab: Any) -> None:
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    none = module("snapshot_usage_info", volume_id=volume)
    assert not none.failed and none.changed is False, none
    assert (none["used_bytes"], none["snapshot_id"], none["reason"]) == (None, "", f"{volume} has no completed snapshot")
    assert "ListSnapshotBlocks" not in module.operations()

    snapshot_id = written_snapshot(lab, [3])
    lab.faults.inject("ListSnapshotBlocks", "AccessDeniedException",
                      message="User is not authorized to perform: ebs:ListSnapshotBlocks")
    denied = module("snapshot_usage_info", snapshot_id=snapshot_id)
    assert not denied.failed and denied.changed is False, denied
    assert denied["used_bytes"] is None and denied["snapshot_id"] == snapshot_id
    assert denied["reason"] == (f"ebs:ListSnapshotBlocks on {snapshot_id} was refused (AccessDeniedException): "
                                "User is not authorized to perform: ebs:ListSnapshotBlocks"), denied["reason"]
    assert lab.faults.answered("ListSnapshotBlocks") == 1, "a refusal is not retried"

    # No answer at all (nothing listens there, as where EBS direct is not offered): a failure, still a reason.
    unreachable = module("snapshot_usage_info", snapshot_id=snapshot_id, endpoint_url="http://127.0.0.1:9")
    assert not unreachable.failed and unreachable["used_bytes"] is None, unreachable
    assert unreachable["reason"].startswith(f"ebs:ListSnapshotBlocks on {snapshot_id} failed (EndpointConnectionError): "), unreachable


class PagedBlocks:
    """A client whose ListSnapshotBlocks answers in pages, as EBS does past 10,000 blocks."""

    def __init__(self, pages: list[list[int]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def list_snapshot_blocks(self, aws_retry: bool = False, **request: Any) -> dict[str, Any]:
        assert aws_retry
        self.requests.append(request)
        number = int(request.get("NextToken", "0"))
        page = {"Blocks": [{"BlockIndex": i, "BlockToken": "t"} for i in self.pages[number]], "BlockSize": BLOCK_SIZE, "VolumeSize": 100}
        if number + 1 < len(self.pages):
            page["NextToken"] = str(number + 1)
        return page


def test_every_page_is_counted() -> None:
    client = PagedBlocks([list(range(10000)), list(range(10000, 20000)), [20000, 20001]])
    assert written_blocks(client, "snap-1") == {"blocks": 20002, "block_size": BLOCK_SIZE, "volume_size": 100}
    assert [request.get("NextToken") for request in client.requests] == [None, "1", "2"]
    assert all(request["SnapshotId"] == "snap-1" and request["MaxResults"] == 10000 for request in client.requests)
