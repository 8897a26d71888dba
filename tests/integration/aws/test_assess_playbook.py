"""assess.yml against a lab fleet: a verdict per source with its reason, three reports, and only reads."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from tests.lab.capture import RequestLog
from tests.lab.endpoint import LAB_REGION
from tests.lab.world import backend, launch, register_pv_image
from tests.support.iam import policy_actions
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import run_playbook

PLAYBOOK = REPO_ROOT / "playbooks" / "assess.yml"


def test_fleet_assessment_reports_every_source_and_only_reads(lab: Any, ec2: Any, tmp_path: Path) -> None:
    pv_instance = launch(ec2, register_pv_image(ec2, name="legacy-web").image_id, name="legacy-web")
    store_instance = launch(ec2, register_pv_image(ec2, name="legacy-store").image_id)
    backend().get_instance(store_instance).root_device_type = "instance-store"
    pv_image = register_pv_image(ec2, name="legacy-db").image_id
    hvm_image = register_pv_image(ec2, name="already-hvm", VirtualizationType="hvm").image_id
    i386_image = register_pv_image(ec2, name="old-32", Architecture="i386").image_id
    windows_image = register_pv_image(ec2, name="windows-2008").image_id
    backend().amis[windows_image].platform = "windows"
    counts = (len(ec2.describe_volumes()["Volumes"]), len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
              len(ec2.describe_images(Owners=["self"])["Images"]))
    reports = tmp_path / "reports"
    capture = tmp_path / "requests.jsonl"

    run = run_playbook(PLAYBOOK, {
        "pv2hvm_source_instance_ids": [pv_instance, store_instance],
        "pv2hvm_source_image_ids": [pv_image, hvm_image, i386_image, windows_image],
        "pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION, "pv2hvm_report_dir": str(reports),
        "pv2hvm_assess_assumptions": {"copy_mib_per_second": 1, "snapshot_usd_per_gib_month": 0.1},
    }, env=lab.env(), capture_file=str(capture))

    assert run.rc == 0, run.explain()
    records = {record["source"]: record for record in json.loads((reports / "pv2hvm-assessment.json").read_text(encoding="utf-8"))}
    verdicts = {source: record["verdict"] for source, record in records.items()}
    assert verdicts == {pv_instance: "migratable", store_instance: "refused", pv_image: "migratable",
                        hvm_image: "already-hvm", i386_image: "migratable", windows_image: "refused"}
    assert "instance-store root device" in records[store_instance]["reason"]
    assert "Windows" in records[windows_image]["reason"]
    web = records[pv_instance]
    assert (web["name"], web["root_gib"], web["destination_gib"]) == ("legacy-web", 8, 9)
    assert web["data_volumes"] == ["/dev/sdf"] and web["instance_store"] == ["/dev/sdb"]
    assert web["suggested_instance_type"] == "t3.micro" and records[i386_image]["suggested_instance_type"] == "t2.micro"
    # 8 GiB at the given 1 MiB/s plus 15 minutes; a 9 GiB snapshot at the given price.
    assert (web["estimated_minutes"], web["estimated_ami_usd_per_month"]) == (152, 0.9), web
    rows = list(csv.DictReader((reports / "pv2hvm-assessment.csv").open(encoding="utf-8")))
    assert sorted(row["source"] for row in rows) == sorted(records)
    markdown = (reports / "pv2hvm-assessment.md").read_text(encoding="utf-8")
    assert "migratable: 3, already-hvm: 1, refused: 2" in markdown
    # A task of an included role is named after the role in the callback's output.
    summary = [result["msg"] for result in run.task_results("cloudops.pv2hvm.pv2hvm : Summarise the assessment")]
    assert summary and "6 sources: 3 migratable, 1 already-hvm, 2 refused" in summary[0], summary
    # Read-only: only Describe* calls reached EC2, and nothing new exists.
    operations = {call[0] for call in RequestLog.read(str(capture)).calls}
    assert operations and all(name.startswith(("Describe", "List", "Get")) for name in operations), operations
    # docs/iam-policy-assess.json allows exactly what the assessment sends, all of it read-only.
    assert operations == policy_actions("Pv2hvmAssess", "iam-policy-assess.json"), operations
    assert (len(ec2.describe_volumes()["Volumes"]), len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
            len(ec2.describe_images(Owners=["self"])["Images"])) == counts


def test_discovery_finds_every_pv_source_and_no_hvm_one(lab: Any, ec2: Any, tmp_path: Path) -> None:
    pv_image = register_pv_image(ec2, name="legacy-web", data_volume=False).image_id
    pv_instance = launch(ec2, pv_image)
    hvm_image = register_pv_image(ec2, name="modern", data_volume=False, VirtualizationType="hvm").image_id
    launch(ec2, hvm_image)
    reports = tmp_path / "reports"
    capture = tmp_path / "requests.jsonl"
    run = run_playbook(PLAYBOOK, {"pv2hvm_assess_discover": True, "pv2hvm_aws_endpoint_url": lab.url,
                                  "pv2hvm_aws_region": LAB_REGION, "pv2hvm_report_dir": str(reports)},
                       env=lab.env(), capture_file=str(capture))
    assert run.rc == 0, run.explain()
    records = json.loads((reports / "pv2hvm-assessment.json").read_text(encoding="utf-8"))
    assert {(record["source"], record["verdict"]) for record in records} == {(pv_instance, "migratable"), (pv_image, "migratable")}
    operations = {call[0] for call in RequestLog.read(str(capture)).calls}
    assert "DescribeInstances" in operations and operations <= policy_actions("Pv2hvmAssess", "iam-policy-assess.json"), operations


def test_nothing_to_assess_is_refused_with_what_to_give(lab: Any, ec2: Any, tmp_path: Path) -> None:
    run = run_playbook(PLAYBOOK, {"pv2hvm_assess_discover": True, "pv2hvm_aws_endpoint_url": lab.url,
                                  "pv2hvm_aws_region": LAB_REGION, "pv2hvm_report_dir": str(tmp_path)}, env=lab.env())
    assert run.rc != 0
    assert any("Say what to assess" in failure and "discovery found none" in failure for failure in run.failures()), run.explain()


def test_bad_assumptions_are_refused_with_what_to_give(lab: Any, ec2: Any, tmp_path: Path) -> None:
    image = register_pv_image(ec2, name="legacy-db", data_volume=False).image_id
    for bad in ({"copy_mib_per_second": 0}, {"copy_mbps": 100}, {"fixed_minutes": "soon"}):
        run = run_playbook(PLAYBOOK, {"pv2hvm_source_image_ids": [image], "pv2hvm_assess_assumptions": bad,
                                      "pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION,
                                      "pv2hvm_report_dir": str(tmp_path)}, env=lab.env())
        assert run.rc != 0, bad
        assert any("pv2hvm_assess_assumptions must map" in failure for failure in run.failures()), run.explain()
        assert not (tmp_path / "pv2hvm-assessment.json").exists()
