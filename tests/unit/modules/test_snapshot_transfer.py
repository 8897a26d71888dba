"""cloudops.pv2hvm.snapshot_upload and snapshot_download against the lab's EBS direct APIs."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.lab import ebs_direct
from tests.lab.ebs_direct import BLOCK_SIZE
from tests.support.iam import policy_actions

MIGRATION = "pv2hvm-i-0123456789abcdef0"
MIB = 1024 * 1024


def sparse_image(path: Path, size: int = 1024 * MIB) -> set[int]:
    """A sparse image with data at a few places and one written block of zeros; returns its non-zero blocks."""
    with open(path, "wb") as handle:
        handle.truncate(size)
        for offset, seed in ((0, b"mbr"), (3 * MIB + 4096, b"fs"), (size // 10 * 7, b"tail")):
            handle.seek(offset)
            handle.write(hashlib.sha256(seed).digest() * (MIB // 32))
        handle.seek(size // BLOCK_SIZE * 9 // 10 * BLOCK_SIZE)
        handle.write(bytes(BLOCK_SIZE))  # allocated, but zeros: never uploaded
    blocks = set()
    with open(path, "rb") as handle:
        for index in range(size // BLOCK_SIZE):
            if os.pread(handle.fileno(), BLOCK_SIZE, index * BLOCK_SIZE).strip(b"\0"):
                blocks.add(index)
    return blocks


def digest_from(path: Path, offset: int, length: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(offset)
        while length > 0:
            chunk = handle.read(min(length, 8 * MIB))
            if not chunk:
                break
            sha.update(chunk)
            length -= len(chunk)
    return sha.hexdigest()


def ours(ec2: Any) -> list[dict[str, Any]]:
    return ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:pv2hvm:migration", "Values": [MIGRATION]}])["Snapshots"]


def test_an_image_uploads_as_its_non_zero_blocks_and_downloads_back_at_the_partition_offset(
        module: Any, ec2: Any, tmp_path: Path) -> None:
    image = tmp_path / "hvm.img"
    non_zero = sparse_image(image)

    planned = module("snapshot_upload", check_mode=True, src=str(image), migration_id=MIGRATION)
    assert planned.changed and planned["blocks_this_run"] == len(non_zero) and ours(ec2) == []

    uploaded = module("snapshot_upload", src=str(image), migration_id=MIGRATION, description="test",
                      progress_file=str(tmp_path / "upload.progress.json"), progress_interval=0.1)
    assert not uploaded.failed, uploaded
    progress = json.loads((tmp_path / "upload.progress.json").read_text())
    assert (progress["state"], progress["phase"], progress["snapshot_id"]) == ("done", "verify", uploaded["snapshot_id"]), progress
    assert progress["bytes_done"] == progress["bytes_total"] == (len(non_zero) + 1) * BLOCK_SIZE, "every data block, the zero one too"
    assert uploaded["blocks_uploaded"] == len(non_zero) and uploaded["blocks_skipped_zero"] == 1
    assert uploaded["bytes_uploaded"] == len(non_zero) * BLOCK_SIZE
    snapshot = ours(ec2)
    assert [(s["SnapshotId"], s["State"], s["VolumeSize"]) for s in snapshot] == [(uploaded["snapshot_id"], "completed", 1)]
    tags = {t["Key"]: t["Value"] for t in snapshot[0]["Tags"]}
    assert tags["pv2hvm:purpose"] == "image" and tags["pv2hvm:source-device"] == "root"
    assert not Path(f"{image}.pv2hvm-upload.json").exists(), "the ledger goes once the upload is verified"
    again = module("snapshot_upload", src=str(image), migration_id=MIGRATION)
    assert again.changed is False and again["snapshot_id"] == uploaded["snapshot_id"]

    dest = tmp_path / "down.img"
    down = module("snapshot_download", snapshot_id=uploaded["snapshot_id"], dest=str(dest), offset=MIB,
                  progress_file=str(tmp_path / "download.progress.json"))
    assert not down.failed, down
    progress = json.loads((tmp_path / "download.progress.json").read_text())
    assert (progress["state"], progress["phase"], progress["bytes_total"]) == ("done", "download", len(non_zero) * BLOCK_SIZE), progress
    assert down["blocks_listed"] == down["blocks_downloaded"] == len(non_zero) and down["blocks_retried"] == 0
    assert dest.stat().st_size == MIB + 1024 * MIB
    assert digest_from(dest, MIB, 1024 * MIB) == digest_from(image, 0, 1024 * MIB)
    assert digest_from(dest, 0, MIB) == hashlib.sha256(bytes(MIB)).hexdigest(), "the first MiB is left for the MBR"
    assert os.stat(dest).st_blocks * 512 < 8 * MIB, "only the listed blocks were written: the image stays sparse"
    repeat = module("snapshot_download", snapshot_id=uploaded["snapshot_id"], dest=str(dest), offset=MIB)
    assert repeat.changed is False and repeat["blocks_downloaded"] == 0

    sent = module.operations()
    assert {"StartSnapshot", "PutSnapshotBlock", "CompleteSnapshot", "ListSnapshotBlocks", "GetSnapshotBlock"} <= sent
    assert sent <= policy_actions(prefix="Pv2hvm"), f"docs/iam-policy.json must allow them: {sent - policy_actions(prefix='Pv2hvm')}"


def test_head_bytes_downloads_only_the_first_blocks(module: Any, tmp_path: Path) -> None:
    image = tmp_path / "data.img"
    non_zero = sparse_image(image)
    snapshot_id = module("snapshot_upload", src=str(image), migration_id=MIGRATION, source_device="/dev/sdf")["snapshot_id"]
    head = tmp_path / "head.img"
    down = module("snapshot_download", snapshot_id=snapshot_id, dest=str(head), offset=0, head_bytes=8 * MIB)
    first = {index for index in non_zero if index * BLOCK_SIZE < 8 * MIB}
    assert not down.failed and 0 < len(first) < len(non_zero), down
    assert down["blocks_listed"] == down["blocks_downloaded"] == len(first), down
    assert head.stat().st_size == 1024 * MIB and digest_from(head, 0, 8 * MIB) == digest_from(image, 0, 8 * MIB)
    assert os.stat(head).st_blocks * 512 <= 8 * MIB, "nothing past the head was fetched"
    assert module("snapshot_download", snapshot_id=snapshot_id, dest=str(head), offset=0, head_bytes=8 * MIB).changed is False


def test_a_damaged_block_is_fetched_again_and_one_that_stays_damaged_fails(module: Any, ec2: Any, tmp_path: Path) -> None:
    image = tmp_path / "hvm.img"
    sparse_image(image)
    snapshot_id = module("snapshot_upload", src=str(image), migration_id=MIGRATION)["snapshot_id"]
    assert ours(ec2)

    ebs_direct.damage_reads(1)
    once = module("snapshot_download", snapshot_id=snapshot_id, dest=str(tmp_path / "a.img"), offset=0, parallel=1)
    assert not once.failed and once["blocks_retried"] == 1, once
    assert digest_from(tmp_path / "a.img", 0, 1024 * MIB) == digest_from(image, 0, 1024 * MIB)

    ebs_direct.damage_reads(100)
    always = module("snapshot_download", snapshot_id=snapshot_id, dest=str(tmp_path / "b.img"), offset=0, parallel=1)
    ebs_direct.damage_reads(0)
    assert always.failed and "arrived damaged 3 times" in always["msg"] and "Run it again" in always["msg"], always


def test_throttling_is_retried(module: Any, ec2: Any, lab: Any, tmp_path: Path) -> None:  # pylint: disable=unused-argument
    image = tmp_path / "hvm.img"
    non_zero = sparse_image(image, size=64 * MIB)
    lab.faults.inject("PutSnapshotBlock", "RequestThrottledException", times=2, message="Rate exceeded")
    try:
        uploaded = module("snapshot_upload", src=str(image), migration_id=MIGRATION)
        assert lab.faults.calls("PutSnapshotBlock") >= uploaded["blocks_uploaded"] + 2
    finally:
        lab.faults.clear()
    assert not uploaded.failed and uploaded["blocks_uploaded"] == len(non_zero), uploaded


def test_an_upload_killed_half_way_is_continued_by_the_next_run_into_one_snapshot(
        module: Any, ec2: Any, lab: Any, tmp_path: Path) -> None:
    image = tmp_path / "hvm.img"
    non_zero = sparse_image(image)
    mark = str(uuid.uuid4())
    seen = [0]

    def kill_the_upload_after_five_blocks() -> None:
        seen[0] += 1
        if seen[0] < 5:
            lab.faults.after("PutSnapshotBlock", kill_the_upload_after_five_blocks)
            return
        kill_marked(mark)

    lab.faults.after("PutSnapshotBlock", kill_the_upload_after_five_blocks)
    try:
        with pytest.raises(AssertionError, match="printed no JSON result"):  # SIGKILLed: it could not answer
            module.with_env({"PV2HVM_TEST_MARK": mark})("snapshot_upload", src=str(image), migration_id=MIGRATION, parallel=1)
    finally:
        lab.faults.clear()
    assert seen[0] == 5
    left = ours(ec2)
    assert [s["State"] for s in left] == ["pending"], "the killed run left its snapshot pending"

    resumed = module("snapshot_upload", src=str(image), migration_id=MIGRATION, parallel=4)
    assert not resumed.failed and resumed["resumed"] is True, resumed
    assert resumed["snapshot_id"] == left[0]["SnapshotId"] and resumed["blocks_uploaded"] == len(non_zero)
    assert [(s["SnapshotId"], s["State"]) for s in ours(ec2)] == [(left[0]["SnapshotId"], "completed")]
    blocks = lab.client("ebs").list_snapshot_blocks(SnapshotId=left[0]["SnapshotId"])["Blocks"]
    assert {b["BlockIndex"] for b in blocks} == non_zero


def kill_marked(mark: str) -> None:
    """SIGKILL the module process started with PV2HVM_TEST_MARK=mark, as a crash of its host would."""
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and f"PV2HVM_TEST_MARK={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                os.kill(int(pid), 9)
        except OSError:
            pass


def test_a_download_killed_half_way_is_continued_by_the_next_run(module: Any, lab: Any, tmp_path: Path) -> None:
    image = tmp_path / "pv.img"
    non_zero = sparse_image(image)
    snapshot_id = module("snapshot_upload", src=str(image), migration_id=MIGRATION)["snapshot_id"]
    dest, mark = tmp_path / "hvm.img", str(uuid.uuid4())
    lab.faults.after("GetSnapshotBlock", lambda: kill_marked(mark), calls=5)
    try:
        with pytest.raises(AssertionError, match="printed no JSON result"):  # SIGKILLed: it could not answer
            module.with_env({"PV2HVM_TEST_MARK": mark})("snapshot_download", snapshot_id=snapshot_id, dest=str(dest), parallel=1)
    finally:
        lab.faults.clear()
    ledger = json.loads(Path(f"{dest}.pv2hvm-download.json").read_text())
    assert ledger["complete"] is False and len(ledger["done"]) < len(non_zero), ledger

    resumed = module("snapshot_download", snapshot_id=snapshot_id, dest=str(dest), parallel=4)
    assert not resumed.failed and resumed.changed, resumed
    assert resumed["blocks_downloaded"] == len(non_zero) - len(ledger["done"]), "only the blocks the killed run had not written"
    assert digest_from(dest, MIB, 1024 * MIB) == digest_from(image, 0, 1024 * MIB)


def test_an_encrypted_upload_is_encrypted_with_the_key_given(module: Any, ec2: Any, tmp_path: Path) -> None:
    image = tmp_path / "hvm.img"
    sparse_image(image, size=64 * MIB)
    key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
    uploaded = module("snapshot_upload", src=str(image), migration_id=MIGRATION, encrypted=True, kms_key_arn=key)
    assert not uploaded.failed, uploaded
    described = ec2.describe_snapshots(SnapshotIds=[uploaded["snapshot_id"]])["Snapshots"][0]
    assert (described["Encrypted"], described["KmsKeyId"]) == (True, key)


@pytest.mark.parametrize("case", ["foreign dest", "bad offset", "no src", "small size"])
def test_bad_input_is_refused_and_nothing_is_written(module: Any, ec2: Any, tmp_path: Path, case: str) -> None:
    image = tmp_path / "hvm.img"
    sparse_image(image, size=64 * MIB)
    snapshot_id = module("snapshot_upload", src=str(image), migration_id=MIGRATION)["snapshot_id"]
    foreign = tmp_path / "foreign.img"
    foreign.write_bytes(b"someone's data")
    calls = {
        "foreign dest": ("snapshot_download", dict(snapshot_id=snapshot_id, dest=str(foreign)), "was not written by a download"),
        "bad offset": ("snapshot_download", dict(snapshot_id=snapshot_id, dest=str(tmp_path / "x.img"), offset=1000), "multiple of 512"),
        "no src": ("snapshot_upload", dict(src=str(tmp_path / "missing.img"), migration_id="pv2hvm-other"), "is not a file"),
        "small size": ("snapshot_download", dict(snapshot_id=snapshot_id, dest=str(tmp_path / "y.img"), size=MIB), "cannot hold"),
    }
    name, args, message = calls[case]
    result = module(name, **args)
    assert result.failed and message in result["msg"], result
    assert foreign.read_bytes() == b"someone's data"
    assert not (tmp_path / "x.img").exists() and not (tmp_path / "y.img").exists()
    assert len(ours(ec2)) == 1


def test_parallel_transfer_stops_at_the_first_error() -> None:
    from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ebs_direct import transfer  # pylint: disable=import-outside-toplevel

    done: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> None:
        if item == 3:
            raise RuntimeError("block 3 failed")
        with lock:
            done.append(item)

    with pytest.raises(RuntimeError, match="block 3"):
        transfer(range(1000), work, parallel=2)
    assert len(done) < 1000


def test_an_uploaded_snapshot_is_registered_as_the_ami_root_without_a_volume(module: Any, ec2: Any, tmp_path: Path) -> None:
    image = tmp_path / "hvm.img"
    sparse_image(image, size=64 * MIB)
    snapshot_id = module("snapshot_upload", src=str(image), migration_id=MIGRATION)["snapshot_id"]
    args = dict(migration_id=MIGRATION, name="uploaded-hvm", architecture="x86_64", root_device_name="/dev/xvda")

    planned = module("hvm_image", check_mode=True, snapshot_id=snapshot_id, **args)
    assert planned.changed and f"use snapshot {snapshot_id} for /dev/xvda" in planned["msg"], planned
    registered = module("hvm_image", snapshot_id=snapshot_id, **args)
    assert not registered.failed and registered["snapshot_id"] == snapshot_id, registered
    described = ec2.describe_images(ImageIds=[registered["image_id"]])["Images"][0]
    assert described["VirtualizationType"] == "hvm"
    assert [(m["DeviceName"], m["Ebs"]["SnapshotId"]) for m in described["BlockDeviceMappings"]] == [("/dev/xvda", snapshot_id)]
    assert [s["SnapshotId"] for s in ours(ec2)] == [snapshot_id], "registered as is: no copy"
    assert ec2.describe_volumes()["Volumes"] == [], "no volume was ever made"
    assert module("hvm_image", snapshot_id=snapshot_id, **args).changed is False

    missing = module("hvm_image", snapshot_id="snap-0000000000000000f", **dict(args, name="other", migration_id="pv2hvm-other"))
    assert missing.failed and "does not exist" in missing["msg"], missing
    both = module("hvm_image", snapshot_id=snapshot_id, volume_id="vol-0123", **args)
    assert both.failed and "mutually exclusive" in both["msg"], both
