"""The workerless method (pv2hvm_method: ebs_direct) through the playbook, when its upload is cut off:
the controller - here also the conversion host - is killed half-way through the PutSnapshotBlock calls,
then the same command runs again. The source's root snapshot is encrypted with a customer key, which the
result must carry. (`make demo PV2HVM_DEMO_METHOD=ebs_direct`, in test_demo.py, proves the boots.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.lab.migration_faults import (CONVERSION_LEFTOVERS, DIRECT_CHROOT_CRASH, DIRECT_UPLOAD_CRASH, ami_root, cleanup_conversion_host,
                                        direct_crash, direct_vars, loops_on, mounts_under, source_state)
from tests.lab.system import sha256_file
from tests.lab.world import launch, register_pv_image, seed_pv_root
from tests.support.crash import killed_lines

pytestmark = pytest.mark.root

KEY = "arn:aws:kms:us-east-1:123456789012:key/5e1f7a2b-0c3d-4e5f-8a9b-0123456789ab"


def test_an_upload_killed_half_way_is_resumed_by_the_next_run_into_one_consistent_snapshot(migration_lab: Any, pv_disk: Path) -> None:
    lab, work = migration_lab, migration_lab.work
    encrypted = register_pv_image(lab.ec2, name="encrypted-web", root_snapshot=seed_pv_root(lab.lab, pv_disk, kms_key_id=KEY),
                                  data_volume=False)
    source = launch(lab.ec2, encrypted.image_id, name="direct-crash")
    migration = f"pv2hvm-{source}"
    before = source_state(lab, source), sha256_file(lab.lab.ebs.snapshot_file(encrypted.root_snapshot))

    killed = direct_crash(lab, source, DIRECT_UPLOAD_CRASH)
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
    assert loops_on(image) == []
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


@pytest.mark.parametrize("then", ["cleanup", "re-run"])
def test_a_chroot_phase_crash_is_cleaned_up_or_finished_by_a_re_run(migration_lab: Any, then: str) -> None:
    """Killed while the image's own tools run in its chroot: the image is mounted with the chroot's mounts, on a
    loop device, in the conversion directory. cleanup.yml, given the conversion host, leaves nothing; a plain
    re-run releases it all and finishes the migration with an image free of the conversion's temporary files."""
    lab, work = migration_lab, migration_lab.work
    source = lab.pv_instance("direct-chroot-crash")
    migration = f"pv2hvm-{source}"
    before = source_state(lab, source)
    killed = direct_crash(lab, source, DIRECT_CHROOT_CRASH)
    assert killed.rc == -9 and len(killed_lines(work)) == 1, killed.explain()
    image = work / "images" / f"{migration}.img"
    mount_point = work / "mnt" / migration
    assert len(mounts_under(mount_point)) > 1, "the crash left the image mounted with the chroot's mounts"
    assert loops_on(image), "and on its loop device"

    if then == "re-run":
        finish_by_re_run(lab, source, image, mount_point)
        assert source_state(lab, source) == before
        return
    done = cleanup_conversion_host(lab, migration)
    assert done.rc == 0, done.explain()
    assert mounts_under(mount_point) == [] and loops_on(image) == []
    assert list((work / "images").iterdir()) == [], "the image, its ledger and progress file are gone"
    assert lab.tagged(migration) == [], "the source's snapshot (the only resource made) is gone"
    assert source_state(lab, source) == before


def finish_by_re_run(lab: Any, source: str, image: Path, mount_point: Path) -> None:
    done = lab.migrate([source], capture="rerun.jsonl", **direct_vars(lab.work))
    assert done.rc == 0, done.explain()
    report = lab.report(source)
    assert report["status"] == "succeeded" and report["transfer"]["upload"]["resumed"] is False, report
    assert mounts_under(mount_point) == [] and loops_on(image) == [] and list(image.parent.iterdir()) == []
    kept = {report["image"]["image_id"], *report["image"]["snapshot_ids"]}
    assert sorted(set(lab.tagged(f"pv2hvm-{source}")) - kept) == []
    with ami_root(lab, report["image"]["image_id"]) as root:
        assert [path for path in CONVERSION_LEFTOVERS if (root / path).exists()] == []
        assert sorted((root / "boot").glob("initrd.img-*")), "the initramfs the crash cut short was built again"
