"""The workerless method (pv2hvm_method: ebs_direct) through the playbook, when its upload is cut off:
the controller - here also the conversion host - is killed half-way through the PutSnapshotBlock calls,
then the same command runs again. The source's root snapshot is encrypted with a customer key, which the
result must carry. (`make demo PV2HVM_DEMO_METHOD=ebs_direct`, in test_demo.py, proves the boots.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.lab.migration_faults import ami_root, source_state
from tests.lab.system import sha256_file
from tests.lab.world import launch, register_pv_image, seed_pv_root
from tests.support.crash import Crash, arm, crash_env, killed_lines

pytestmark = pytest.mark.root

# The lab image's HVM disk has about a thousand non-zero blocks: this dies with half of them sent.
HALF_WAY = Crash("upload", "tree", api="PutSnapshotBlock", calls=500)
KEY = "arn:aws:kms:us-east-1:123456789012:key/5e1f7a2b-0c3d-4e5f-8a9b-0123456789ab"


def direct_vars(work: Path) -> dict[str, Any]:
    return {"pv2hvm_method": "ebs_direct", "pv2hvm_conversion_dir": str(work / "images")}


def test_an_upload_killed_half_way_is_resumed_by_the_next_run_into_one_consistent_snapshot(migration_lab: Any, pv_disk: Path) -> None:
    lab, work = migration_lab, migration_lab.work
    encrypted = register_pv_image(lab.ec2, name="encrypted-web", root_snapshot=seed_pv_root(lab.lab, pv_disk, kms_key_id=KEY),
                                  data_volume=False)
    source = launch(lab.ec2, encrypted.image_id, name="direct-crash")
    migration = f"pv2hvm-{source}"
    before = source_state(lab, source), sha256_file(lab.lab.ebs.snapshot_file(encrypted.root_snapshot))

    arm(lab.lab, HALF_WAY, work)
    killed = lab.migrate([source], capture="crashed.jsonl", env=crash_env(HALF_WAY, work), own_session=True, **direct_vars(work))
    lab.lab.faults.clear()
    assert killed.rc == -9 and len(killed_lines(work)) == 1, killed.explain()
    ours = [{"Name": "tag:pv2hvm:migration", "Values": [migration]}, {"Name": "tag:pv2hvm:purpose", "Values": ["image"]}]
    pending = lab.ec2.describe_snapshots(Filters=ours)["Snapshots"]
    assert [s["State"] for s in pending] == ["pending"], pending
    image = work / "images" / f"{migration}.img"
    assert image.exists() and Path(f"{image}.pv2hvm-converted.json").exists(), "the converted image was frozen before its upload"

    done = lab.migrate([source], capture="rerun.jsonl", **direct_vars(work))
    assert done.rc == 0, done.explain()
    report = lab.report(source)
    assert report["status"] == "succeeded" and report["method"] == "ebs_direct", report
    upload = report["transfer"]["upload"]
    assert upload["resumed"] is True and upload["snapshot_id"] == pending[0]["SnapshotId"], upload
    assert 0 < upload["blocks_this_run"] < upload["blocks_uploaded"], "the re-run sent only the blocks still missing"
    assert report["transfer"]["download"]["blocks_downloaded"] == 0, "the re-run downloaded nothing again"
    assert report["transfer"]["volumes_staged"] == 0

    image_id = report["image"]["image_id"]
    described = lab.ec2.describe_images(ImageIds=[image_id])["Images"][0]
    root = next(m for m in described["BlockDeviceMappings"] if m["DeviceName"] == described["RootDeviceName"])
    assert root["Ebs"]["SnapshotId"] == upload["snapshot_id"]
    kept = {image_id, upload["snapshot_id"]}
    assert sorted(set(lab.tagged(migration)) - kept) == [], "nothing but the AMI and its root snapshot is left"
    assert list((work / "images").iterdir()) == [], "the conversion host keeps no image, ledger or facts"
    assert subprocess.run(["losetup", "--associated", str(image)], capture_output=True, text=True, check=True).stdout == ""
    for capture in ("crashed.jsonl", "rerun.jsonl"):
        assert lab.requests(capture).of("CreateVolume") == [] and lab.requests(capture).of("AttachVolume") == []
    assert (source_state(lab, source), sha256_file(lab.lab.ebs.snapshot_file(encrypted.root_snapshot))) == before
    snapshot = lab.ec2.describe_snapshots(SnapshotIds=[upload["snapshot_id"]])["Snapshots"][0]
    assert (snapshot["Encrypted"], snapshot.get("KmsKeyId")) == (True, KEY), "encrypted like the source, with its key"

    # One image, not two half images: the uploaded root is a clean filesystem with the UUID the report
    # (the frozen conversion's facts) names and fstab's root entry uses.
    disk = lab.root_disk_of_image(image_id)
    partition = subprocess.run(["losetup", "--find", "--show", "--read-only", "--offset", str(1 << 20), str(disk)],
                               capture_output=True, text=True, check=True).stdout.strip()
    try:
        fsck = subprocess.run(["e2fsck", "-f", "-n", partition], capture_output=True, text=True, check=False)
        uuid = subprocess.run(["blkid", "-p", "-s", "UUID", "-o", "value", partition], capture_output=True, text=True,
                              check=True).stdout.strip()
    finally:
        subprocess.run(["losetup", "--detach", partition], check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert uuid == report["copy"]["new_uuid"] != report["copy"]["old_uuid"]
    with ami_root(lab, image_id) as mounted:
        fstab_root = [line.split()[0] for line in (mounted / "etc/fstab").read_text(encoding="utf-8").splitlines()
                      if line.split()[1:2] == ["/"]]
    assert fstab_root == [f"UUID={uuid}"], fstab_root
