"""The lab's EBS direct APIs behave as the AWS API reference documents, where stock moto does not.

Each test reproduces one documented behaviour (its docstring names the action); test_stock_moto.py runs
them against stock moto and requires every one to fail there.
"""

from __future__ import annotations

from typing import Any, Iterator

import botocore.exceptions
import pytest

from tests.lab.ebs_direct import BLOCK_SIZE, checksum

pytestmark = pytest.mark.aws_behaviour


@pytest.fixture
def ebs(lab: Any, ec2: Any) -> Iterator[Any]:  # pylint: disable=unused-argument
    """An EBS direct client on the freshly reset lab (the `ec2` fixture resets it)."""
    yield lab.client("ebs")


def block(fill: bytes) -> bytes:
    return (fill * BLOCK_SIZE)[:BLOCK_SIZE]


def put(ebs: Any, snapshot_id: str, index: int, data: bytes, digest: str | None = None) -> Any:
    return ebs.put_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockData=data, DataLength=len(data),
                                  Checksum=digest or checksum(data), ChecksumAlgorithm="SHA256")


def written(ebs: Any, blocks: dict[int, bytes], **start: Any) -> str:
    snapshot_id = ebs.start_snapshot(VolumeSize=1, **start)["SnapshotId"]
    for index, data in blocks.items():
        put(ebs, snapshot_id, index, data)
    ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=len(blocks))
    return snapshot_id


def reason(excinfo: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response.get("Reason", "")


def test_blocks_are_512_kib(ebs: Any) -> None:
    """StartSnapshot and ListSnapshotBlocks: BlockSize is 524288 bytes."""
    started = ebs.start_snapshot(VolumeSize=1)
    assert started["BlockSize"] == 524288
    put(ebs, started["SnapshotId"], 0, block(b"a"))
    ebs.complete_snapshot(SnapshotId=started["SnapshotId"], ChangedBlocksCount=1)
    assert ebs.list_snapshot_blocks(SnapshotId=started["SnapshotId"])["BlockSize"] == 524288


def test_a_snapshot_ec2_made_can_be_listed(ebs: Any, ec2: Any) -> None:
    """ListSnapshotBlocks reads any snapshot of the account, e.g. one CreateSnapshot made (here: empty)."""
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    listed = ebs.list_snapshot_blocks(SnapshotId=snapshot_id)
    assert listed["Blocks"] == [] and listed["VolumeSize"] == 1


def test_a_block_token_is_for_its_own_block(ebs: Any) -> None:
    """GetSnapshotBlock: a token ListSnapshotBlocks did not give for this block is ValidationException INVALID_BLOCK_TOKEN."""
    snapshot_id = written(ebs, {1: block(b"a"), 2: block(b"b")})
    tokens = {b["BlockIndex"]: b["BlockToken"] for b in ebs.list_snapshot_blocks(SnapshotId=snapshot_id)["Blocks"]}
    assert ebs.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=2, BlockToken=tokens[2])["BlockData"].read() == block(b"b")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ebs.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=2, BlockToken=tokens[1])
    assert reason(excinfo) == ("ValidationException", "INVALID_BLOCK_TOKEN")


def test_a_block_whose_checksum_does_not_match_is_refused(ebs: Any) -> None:
    """PutSnapshotBlock: EBS checks the Base64 SHA-256 against the data, and a mismatch fails the request."""
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        put(ebs, snapshot_id, 0, block(b"a"), digest=checksum(block(b"b")))
    assert reason(excinfo)[0] == "ValidationException"


def test_only_whole_blocks_are_written(ebs: Any) -> None:
    """PutSnapshotBlock: data is written in whole 512 KiB blocks (DataLength 524288)."""
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        put(ebs, snapshot_id, 0, b"a" * 4096)
    assert reason(excinfo)[0] == "ValidationException"


def test_a_retried_start_with_its_client_token_returns_the_same_snapshot(ebs: Any) -> None:
    """StartSnapshot: a retry with the same ClientToken returns the original request's snapshot."""
    first = ebs.start_snapshot(VolumeSize=1, ClientToken="pv2hvm-test-token")["SnapshotId"]
    again = ebs.start_snapshot(VolumeSize=1, ClientToken="pv2hvm-test-token")["SnapshotId"]
    assert again == first


def test_a_started_snapshot_has_no_volume_and_stays_pending_until_completed(ebs: Any, ec2: Any) -> None:
    """StartSnapshot creates no volume; the snapshot is pending (VolumeId vol-ffffffff) until CompleteSnapshot."""
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    assert ec2.describe_volumes()["Volumes"] == []
    described = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert (described["State"], described["VolumeId"]) == ("pending", "vol-ffffffff")
    put(ebs, snapshot_id, 0, block(b"a"))
    assert ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=1)["Status"] == "completed"
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "completed"


def test_an_encrypted_start_gives_an_encrypted_snapshot_with_its_key(ebs: Any, ec2: Any) -> None:
    """StartSnapshot with Encrypted and KmsKeyArn: the snapshot is encrypted with that key."""
    key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
    started = ebs.start_snapshot(VolumeSize=1, Encrypted=True, KmsKeyArn=key)
    assert started["KmsKeyArn"] == key
    described = ec2.describe_snapshots(SnapshotIds=[started["SnapshotId"]])["Snapshots"][0]
    assert (described["Encrypted"], described.get("KmsKeyId")) == (True, key)


def test_a_wrong_block_count_does_not_complete_the_snapshot(ebs: Any, ec2: Any) -> None:
    """CompleteSnapshot seals what was written; the lab puts a miscounted snapshot in error (the reference is silent)."""
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    put(ebs, snapshot_id, 0, block(b"a"))
    assert ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=2)["Status"] == "error"
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "error"


def test_listing_starts_at_the_starting_block_index(ebs: Any) -> None:
    """ListSnapshotBlocks: StartingBlockIndex - only blocks at or after it are listed."""
    snapshot_id = written(ebs, {1: block(b"a"), 5: block(b"b")})
    listed = ebs.list_snapshot_blocks(SnapshotId=snapshot_id, StartingBlockIndex=3)["Blocks"]
    assert [b["BlockIndex"] for b in listed] == [5]
