"""Fleet mode: three different PV instances in one run, in parallel, on one worker the playbook launches.

The fleet is what a real one holds, and each source is a claim of its own that the same run proves (one migration
per machine, not one per assertion): an old 32-bit (i386) machine, registered as i386 and tested on a Xen HVM type
since Nitro runs 64-bit AMIs only (the lab's 64-bit disk: what is checked is the AWS side - the registered
architecture, the test instance type, the advice); and two nearly full roots that fill their 1 GiB volume (xfs on
the whole disk, ext4 in a partition), which migrate with no size set and boot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.bootcheck import boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.world import launch, register_lab_worker_image, register_pv_image, seed_pv_root
from tests.support.iam import policy_actions

pytestmark = [pytest.mark.root, pytest.mark.qemu]

FULL_ROOTS = {
    "xfs-99": PVImageSpec(fstype="xfs", size_mib=1024, fill_percent=99, root_device="/dev/sda1"),
    "ext4-95-partitioned": PVImageSpec(fstype="ext4", size_mib=1024, fill_percent=95, root_device="/dev/sda1",
                                       partitioned=True),
}


def full_root_source(migration_lab: Any, name: str, spec: PVImageSpec) -> str:
    disk = build_pv_image(spec).disk
    image = register_pv_image(migration_lab.ec2, name=f"legacy-{name}", root_snapshot=seed_pv_root(migration_lab.lab, disk),
                              data_volume=False)
    return launch(migration_lab.ec2, image.image_id, name=f"legacy-{name}")


def test_three_sources_in_parallel_share_one_worker_and_converge(migration_lab: Any, pv_disk: Path) -> None:
    ec2 = migration_lab.ec2
    old_32 = register_pv_image(ec2, name="old-32", root_snapshot=seed_pv_root(migration_lab.lab, pv_disk), data_volume=False,
                               Architecture="i386")
    i386 = launch(ec2, old_32.image_id, name="old-32")
    full = {name: full_root_source(migration_lab, name, spec) for name, spec in FULL_ROOTS.items()}
    sources = [i386, *full.values()]
    worker_image = register_lab_worker_image(migration_lab.lab)
    launch_spec = {"image_id": worker_image, "instance_type": "t3.small"}
    run = migration_lab.migrate(sources, pv2hvm_worker_launch=launch_spec)
    assert run.rc == 0, run.explain()

    reports = {source: migration_lab.report(source) for source in sources}
    assert [r["status"] for r in reports.values()] == ["succeeded"] * 3
    images = [r["image"]["image_id"] for r in reports.values()]
    assert len(set(images)) == 3

    # The playbook needs nothing the documented IAM policy does not allow.
    sent = {call[0] for call in migration_lab.requests().calls}
    assert sent <= policy_actions(prefix="Pv2hvm"), sent - policy_actions(prefix="Pv2hvm")

    # One worker, launched for the run (tagged purpose worker) and terminated at the end.
    workers = [i for r in ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [worker_image]}])["Reservations"]
               for i in r["Instances"]]
    assert len(workers) == 1 and workers[0]["State"]["Name"] == "terminated"
    worker = workers[0]["InstanceId"]

    # Each migration had its own device slots on the worker: six attaches, six device names.
    attaches = [r for r in migration_lab.requests().of("AttachVolume") if r["InstanceId"] == worker]
    assert len({r["VolumeId"] for r in attaches}) == 6
    assert len({r["Device"] for r in attaches if r["VolumeId"] in {a["VolumeId"] for a in attaches}}) == 6

    # They ran at the same time: every copy overlaps the others.
    converts = sorted((r["times"]["convert_start"], r["times"]["convert_end"]) for r in reports.values())
    assert all(start < converts[0][1] for start, _end in converts[1:]), converts

    for image_id in images:
        with open(migration_lab.root_disk_of_image(image_id), "rb") as disk:
            mbr = disk.read(512)
        assert mbr[510:] == b"\x55\xaa" and b"GRUB" in mbr, f"{image_id}'s root has no GRUB boot sector"

    # The 32-bit machine: an i386 HVM AMI, tested on a Xen HVM type, and the report says why.
    report = reports[i386]
    registered = ec2.describe_images(ImageIds=[report["image"]["image_id"]])["Images"][0]
    assert (registered["Architecture"], registered["VirtualizationType"]) == ("i386", "hvm")
    assert report["readiness"]["nitro_ready"] is True, "the drivers are there; the architecture decides"
    assert report["test_instance"]["instance_type"] == "t2.micro", report["test_instance"]
    assert "Xen HVM instance types only" in report["instance_type_advice"] and "32-bit" in report["instance_type_advice"]

    # The full roots: sized from the source with no size set, and each boots (NVMe: issue 14 asked each full root
    # to boot through the migration; the IDE boot of the same boot loader, initramfs tool and kernel is
    # test_convert_image.py's and the demo's, tests/boot_matrix.py). These boots also prove the parallel run's output.
    for name, source in full.items():
        destination = reports[source]["destination"]
        assert destination["size_gib"] == 2, (name, destination)
        assert "next whole GiB" in destination["reason"] and "1 GiB root" in destination["reason"], (name, destination)
        space = destination["space"]
        assert space["free_bytes"] >= space["headroom_bytes"] > 0, (name, space)
        result = boot(migration_lab.root_disk_of_image(reports[source]["image"]["image_id"]), "nvme",
                      log_dir=migration_lab.work / f"boot-{name}")
        assert result.booted, f"{name}: {result.reason}\n{result.tail()}"
        assert result.probe["fstype"] == FULL_ROOTS[name].fstype, result.probe
        assert result.probe["root"].startswith("/dev/nvme0n1"), result.probe

    # The same run again converges: nothing new is created, the same AMIs come back.
    again = migration_lab.migrate(sources, capture="rerun.jsonl", pv2hvm_worker_launch=launch_spec)
    assert again.rc == 0, again.explain()
    sent = {call[0] for call in migration_lab.requests("rerun.jsonl").calls}
    assert not sent & {"CreateSnapshot", "CreateVolume", "AttachVolume", "RegisterImage"}, sent
    assert [migration_lab.report(source)["status"] for source in sources] == ["already-done"] * 3
    assert [migration_lab.report(source)["image"]["image_id"] for source in sources] == images
