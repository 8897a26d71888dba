"""Fleet mode: three PV instances in one run, in parallel, on one worker the playbook launches."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.bootcheck import boot
from tests.lab.world import register_lab_worker_image
from tests.support.iam import policy_actions

pytestmark = [pytest.mark.root, pytest.mark.qemu]


def test_three_sources_in_parallel_share_one_worker_and_converge(migration_lab: Any) -> None:
    sources = [migration_lab.pv_instance(f"legacy-web-{index}") for index in range(3)]
    worker_image = register_lab_worker_image(migration_lab.lab)
    launch = {"image_id": worker_image, "instance_type": "t3.small"}
    run = migration_lab.migrate(sources, pv2hvm_worker_launch=launch)
    assert run.rc == 0, run.explain()

    reports = [migration_lab.report(source) for source in sources]
    assert [r["status"] for r in reports] == ["succeeded"] * 3
    images = [r["image"]["image_id"] for r in reports]
    assert len(set(images)) == 3

    # The playbook needs nothing the documented IAM policy does not allow.
    sent = {call[0] for call in migration_lab.requests().calls}
    assert sent <= policy_actions(prefix="Pv2hvm"), sent - policy_actions(prefix="Pv2hvm")

    # One worker, launched for the run (tagged purpose worker) and terminated at the end.
    workers = [i for r in migration_lab.ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [worker_image]}])["Reservations"]
               for i in r["Instances"]]
    assert len(workers) == 1 and workers[0]["State"]["Name"] == "terminated"
    worker = workers[0]["InstanceId"]

    # Each migration had its own device slots on the worker: six attaches, six device names.
    attaches = [r for r in migration_lab.requests().of("AttachVolume") if r["InstanceId"] == worker]
    assert len({r["VolumeId"] for r in attaches}) == 6
    assert len({r["Device"] for r in attaches if r["VolumeId"] in {a["VolumeId"] for a in attaches}}) == 6

    # They ran at the same time: every copy overlaps the others.
    converts = sorted((r["times"]["convert_start"], r["times"]["convert_end"]) for r in reports)
    assert all(start < converts[0][1] for start, _end in converts[1:]), converts

    # The AMIs are three conversions of the same image: one boot (NVMe, as on Nitro) proves the parallel run's
    # output; every other migration test boots its own.
    result = boot(migration_lab.root_disk_of_image(images[1]), "nvme", log_dir=migration_lab.work / "boot")
    assert result.booted, result.tail()
    for image_id in images:
        with open(migration_lab.root_disk_of_image(image_id), "rb") as disk:
            mbr = disk.read(512)
        assert mbr[510:] == b"\x55\xaa" and b"GRUB" in mbr, f"{image_id}'s root has no GRUB boot sector"

    # The same run again converges: nothing new is created, the same AMIs come back.
    again = migration_lab.migrate(sources, capture="rerun.jsonl", pv2hvm_worker_launch=launch)
    assert again.rc == 0, again.explain()
    sent = {call[0] for call in migration_lab.requests("rerun.jsonl").calls}
    assert not sent & {"CreateSnapshot", "CreateVolume", "AttachVolume", "RegisterImage"}, sent
    assert [migration_lab.report(source)["status"] for source in sources] == ["already-done"] * 3
    assert [migration_lab.report(source)["image"]["image_id"] for source in sources] == images
