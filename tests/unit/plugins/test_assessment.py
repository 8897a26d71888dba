"""The fleet assessment's verdicts and reports (plugins/plugin_utils/assessment.py)."""

from __future__ import annotations

import csv
import io

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.assessment import (
    assess_source, assessment_csv, assessment_markdown, destination_gib, estimates, verdict_counts)

PV_INSTANCE = {
    "failed": False, "source_type": "instance", "name": "legacy-web", "architecture": "x86_64", "kernel_id": "aki-919dcaf8",
    "block_device_mappings": [
        {"device_name": "/dev/sda1", "is_root": True, "ebs": {"volume_id": "vol-1", "size": 8}},
        {"device_name": "/dev/sdf", "is_root": False, "ebs": {"volume_id": "vol-2", "size": 4}},
        {"device_name": "/dev/sdb", "is_root": False, "virtual_name": "ephemeral0"},
    ],
}
I386_IMAGE = {"failed": False, "source_type": "image", "name": "old-32", "architecture": "i386", "root_snapshot": {"volume_size": 2},
              "block_device_mappings": [{"device_name": "/dev/sda1", "is_root": True, "ebs": {"snapshot_id": "snap-1"}}]}


def test_a_pv_instance_is_migratable_with_its_volumes_and_planned_size() -> None:
    record = assess_source(PV_INSTANCE, "i-0123456789abcdef0", "instance")
    assert record["verdict"] == "migratable" and record["suggested_instance_type"] == "t3.micro"
    assert (record["root_gib"], record["destination_gib"]) == (8, 9)
    assert (record["data_volumes"], record["instance_store"]) == (["/dev/sdf"], ["/dev/sdb"])


def test_32_bit_gets_a_xen_hvm_type_and_refusals_keep_their_reason() -> None:
    assert assess_source(I386_IMAGE, "ami-1", "image")["suggested_instance_type"] == "t2.micro"
    hvm = assess_source({"failed": True, "msg": "ami-2 is already HVM: ...  set allow_hvm: true"}, "ami-2", "image")
    assert hvm["verdict"] == "already-hvm" and hvm["destination_gib"] == 0 and hvm["suggested_instance_type"] == ""
    # As the playbook sees it: failed_when: false leaves failed false, and no facts.
    gone = assess_source({"failed": False, "msg": "ami-3 was not found\nin this region"}, "ami-3", "image")
    assert gone["verdict"] == "refused" and gone["reason"] == "ami-3 was not found in this region"


def test_destination_is_the_next_whole_gib() -> None:
    assert destination_gib(8) == 9 and destination_gib(1, 3, 0) == 2 and destination_gib(2, 1, 1022) == 3


def test_reports_hold_every_source() -> None:
    records = [assess_source(PV_INSTANCE, "i-1", "instance"), assess_source(I386_IMAGE, "ami-1", "image"),
               assess_source({"failed": True, "msg": "Windows | not"}, "ami-9", "image")]
    assert verdict_counts(records) == {"migratable": 2, "already-hvm": 0, "refused": 1}
    rows = list(csv.DictReader(io.StringIO(assessment_csv(records))))
    assert [row["source"] for row in rows] == ["i-1", "ami-1", "ami-9"]
    assert rows[0]["data_volumes"] == "/dev/sdf" and rows[2]["verdict"] == "refused"
    markdown = assessment_markdown(records)
    assert "migratable: 2, already-hvm: 0, refused: 1" in markdown
    assert markdown.count("\n| ") == 5 and "Windows \\| not" in markdown


def test_estimates_follow_the_assumptions() -> None:
    # 8 GiB at 100 MiB/s is about 1.4 min, plus 15 fixed; 17 GiB of gp3 for that time; a 9 GiB snapshot a month.
    assert estimates(8, 9) == {"estimated_minutes": 16, "estimated_migration_usd": 0.0005, "estimated_ami_usd_per_month": 0.45}
    slow = estimates(1000, 1001, {"copy_mib_per_second": 10})
    assert slow["estimated_minutes"] == round(15 + 1000 * 1024 / 10 / 60)
    assert slow["estimated_migration_usd"] == round(2001 * (15 + 1000 * 1024 / 10 / 60) / 60 * 0.08 / 730, 4) > 0
    refused = assess_source({"failed": False, "msg": "no"}, "ami-1", "image")
    assert (refused["estimated_minutes"], refused["estimated_ami_usd_per_month"]) == (0, 0)
