"""The fleet assessment's verdicts and reports (plugins/plugin_utils/assessment.py)."""

from __future__ import annotations

import csv
import io

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.assessment import (
    assess_source, assessment_csv, assessment_markdown, assessment_summary, assessment_targets, destination_gib, estimates,
    verdict_counts)

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


MEASURED = {"changed": False, "snapshot_id": "snap-9", "snapshot_start_time": "2026-12-05T10:00:00+00:00", "blocks": 2048,
            "block_size": 524288, "used_bytes": 2048 * 524288, "reason": ""}


def test_the_copy_time_counts_the_used_bytes_where_measured_else_the_whole_volume() -> None:
    measured = assess_source(PV_INSTANCE, "i-1", "instance", region="eu-west-1", usage=MEASURED,
                             assumptions={"copy_mib_per_second": 1})
    assert (measured["region"], measured["used_bytes"]) == ("eu-west-1", 1024**3)
    assert measured["used_bytes_basis"] == "2048 blocks of 524288 bytes in snap-9 taken 2026-12-05T10:00:00+00:00"
    assert measured["estimated_minutes"] == round(15 + 1024 / 60)
    denied = {"used_bytes": None, "reason": "ebs:ListSnapshotBlocks on snap-9 was refused (AccessDeniedException)"}
    whole = assess_source(PV_INSTANCE, "i-1", "instance", usage=denied, assumptions={"copy_mib_per_second": 1})
    assert whole["used_bytes"] == 8 * 1024**3 and whole["estimated_minutes"] == round(15 + 8 * 1024 / 60)
    assert whole["used_bytes_basis"] == "whole volume: ebs:ListSnapshotBlocks on snap-9 was refused (AccessDeniedException)"
    # The measuring task itself failed (failed_when: false keeps its message), or was not run.
    assert assess_source(PV_INSTANCE, "i-1", "instance", usage={"msg": "Could not find\nthe snapshots"})["used_bytes_basis"] == \
        "whole volume: Could not find the snapshots"
    assert assess_source(PV_INSTANCE, "i-1", "instance")["used_bytes_basis"] == "whole volume: not measured"
    refused = assess_source({"msg": "no"}, "ami-1", "image", usage=MEASURED)
    assert (refused["used_bytes"], refused["used_bytes_basis"]) == (0, "")


def looked_up(key, id_key, found):
    """Registered results of an *_info task looped over the regions ({region: [(id, virtualization type)]})."""
    return [{"item": region, key: [{id_key: source, "virtualization_type": kind} for source, kind in sources]}
            for region, sources in found.items()]


def test_one_region_takes_every_given_id_there() -> None:
    targets = assessment_targets(["us-east-1"], ["i-1"], ["ami-1"])
    assert targets == [{"region": "us-east-1", "kind": "instance", "id": "i-1", "missing": ""},
                       {"region": "us-east-1", "kind": "image", "id": "ami-1", "missing": ""}]
    assert assessment_targets([""], ["i-1"], [])[0]["region"] == "", "the region from the environment or profile"


def test_several_regions_take_each_given_id_where_it_is_found_and_refuse_one_found_nowhere() -> None:
    regions = ["eu-west-1", "us-east-1"]
    located_images = looked_up("images", "image_id", {"eu-west-1": [("ami-1", "paravirtual")], "us-east-1": []})
    located_instances = looked_up("instances", "instance_id", {"eu-west-1": [], "us-east-1": [("i-1", "hvm")]})
    targets = assessment_targets(regions, ["i-1"], ["ami-1", "ami-2"], located_instances=located_instances,
                                 located_images=located_images)
    assert [(t["region"], t["id"]) for t in targets] == [("us-east-1", "i-1"), ("eu-west-1", "ami-1"), ("", "ami-2")]
    assert targets[2]["missing"] == ("image ami-2 was not found in any of the regions eu-west-1, us-east-1. "
                                     "Check the ID, the regions and the credentials' account.")
    assert not targets[0]["missing"] and not targets[1]["missing"]
    record = assess_source({"msg": targets[2]["missing"]}, "ami-2", "image")
    assert (record["verdict"], record["region"]) == ("refused", "")


def test_discovery_adds_the_pv_sources_of_each_region_once() -> None:
    discovered = looked_up("instances", "instance_id", {"eu-west-1": [("i-1", "paravirtual"), ("i-2", "hvm")],
                                                        "us-east-1": [("i-3", "paravirtual")]})
    skipped = [{"item": "eu-west-1", "skipped": True}]
    targets = assessment_targets(["eu-west-1", "us-east-1"], ["i-1"], [], discovered_instances=discovered,
                                 discovered_images=skipped,
                                 located_instances=looked_up("instances", "instance_id", {"eu-west-1": [("i-1", "paravirtual")]}))
    assert [(t["region"], t["kind"], t["id"]) for t in targets] == [("eu-west-1", "instance", "i-1"), ("us-east-1", "instance", "i-3")]


def test_the_summary_counts_by_verdict_then_by_region() -> None:
    records = [assess_source(PV_INSTANCE, "i-1", "instance", region="eu-west-1"),
               assess_source({"msg": "Windows"}, "ami-9", "image", region="us-east-1"),
               assess_source(I386_IMAGE, "ami-1", "image", region="us-east-1"),
               assess_source({"msg": "not found in any"}, "ami-2", "image")]
    assert assessment_summary(records) == ("4 sources: 2 migratable, 0 already-hvm, 2 refused. By region - eu-west-1: 1 migratable; "
                                           "us-east-1: 1 migratable, 1 refused; found in no region: 1 refused.")
    assert "- us-east-1: 1 migratable, 1 refused\n- found in no region: 1 refused\n" in assessment_markdown(records)
    assert [row["region"] for row in csv.DictReader(io.StringIO(assessment_csv(records)))] == ["eu-west-1", "us-east-1", "us-east-1", ""]
