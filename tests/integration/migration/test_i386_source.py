"""A 32-bit (i386) PV AMI becomes a 32-bit HVM AMI, tested on a Xen HVM instance type: Nitro runs 64-bit AMIs only.

The lab's disk is 64-bit Debian (no 32-bit image is built here); what is checked is the AWS side - the
registered architecture, the instance type step 7 picks, and the advice in the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.world import launch, register_lab_worker, register_pv_image, seed_pv_root

pytestmark = pytest.mark.root


def test_i386_source_is_registered_as_i386_and_tested_on_a_xen_hvm_type(migration_lab: Any, pv_disk: Path) -> None:
    ec2 = migration_lab.ec2
    image = register_pv_image(ec2, name="old-32", root_snapshot=seed_pv_root(migration_lab.lab, pv_disk), data_volume=False,
                              Architecture="i386")
    source = launch(ec2, image.image_id, name="old-32")
    run = migration_lab.migrate([source], pv2hvm_worker_instance_id=register_lab_worker(migration_lab.lab))
    assert run.rc == 0, run.explain()
    report = migration_lab.report(source)
    assert report["status"] == "succeeded"
    registered = ec2.describe_images(ImageIds=[report["image"]["image_id"]])["Images"][0]
    assert (registered["Architecture"], registered["VirtualizationType"]) == ("i386", "hvm")
    assert report["readiness"]["nitro_ready"] is True, "the drivers are there; the architecture decides"
    assert report["test_instance"]["instance_type"] == "t2.micro", report["test_instance"]
    assert "Xen HVM instance types only" in report["instance_type_advice"] and "32-bit" in report["instance_type_advice"]
