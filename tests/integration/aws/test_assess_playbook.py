"""assess.yml against a lab fleet: a verdict per source with its reason, three reports, and only reads."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any


from tests.lab.capture import RequestLog
from tests.lab.ebs_direct import BLOCK_SIZE
from tests.lab.endpoint import LAB_REGION, LabEndpoint
from tests.lab.world import backend, launch, register_pv_image, seed_pv_root
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


OTHER_REGION = "eu-west-1"
GIB = 1024**3


def region_client(lab: Any, region: str) -> Any:
    """An EC2 client of the lab in another region (the lab serves every region, each with its own resources)."""
    return lab.client("ec2", region)


def written_disk(path: Path, blocks: list[int], size: int = GIB) -> Path:
    """A sparse disk image with data in exactly these 512 KiB blocks."""
    with open(path, "wb") as handle:
        handle.truncate(size)
        for index in blocks:
            os.pwrite(handle.fileno(), b"pv2hvm-root" * (BLOCK_SIZE // 11) + b"!" * (BLOCK_SIZE % 11), index * BLOCK_SIZE)
    return path


def root_volume(ec2: Any, instance_id: str) -> str:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == instance["RootDeviceName"])


def fleet_state(*clients: Any) -> list[tuple[int, int, int, int]]:
    return [(len(c.describe_volumes()["Volumes"]), len(c.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
             len(c.describe_images(Owners=["self"])["Images"]),
             sum(len(r["Instances"]) for r in c.describe_instances()["Reservations"])) for c in clients]


def test_two_regions_with_the_roots_used_bytes_from_their_snapshots(lab_ebs: LabEndpoint, tmp_path: Path) -> None:
    east, west = lab_ebs.client(), region_client(lab_ebs, OTHER_REGION)
    # us-east-1: a PV AMI whose root snapshot holds 5 written blocks, and two instances of it.
    root = seed_pv_root(lab_ebs, written_disk(tmp_path / "root.img", [0, 1, 2, 100, 1500]))
    db_image = register_pv_image(east, name="legacy-db", root_snapshot=root, data_volume=False).image_id
    web = launch(east, db_image, name="legacy-web")
    east.create_snapshot(VolumeId=root_volume(east, web))
    time.sleep(1.1)  # StartTime counts whole seconds: the next snapshot is the newer one
    with open(lab_ebs.ebs.volume_file(root_volume(east, web)), "r+b") as volume:
        os.pwrite(volume.fileno(), b"new" * 1000, 2000 * BLOCK_SIZE)  # written since: the newest snapshot has 6 blocks
    web_newest = east.create_snapshot(VolumeId=root_volume(east, web))["SnapshotId"]
    app = launch(east, db_image, name="legacy-app")
    east.create_snapshot(VolumeId=root_volume(east, app))
    # eu-west-1: an instance whose root volume has no snapshot.
    west_volume = west.create_volume(Size=1, AvailabilityZone=f"{OTHER_REGION}a")["VolumeId"]
    west_root = west.create_snapshot(VolumeId=west_volume)["SnapshotId"]
    mail = launch(west, register_pv_image(west, name="legacy-mail", root_snapshot=west_root, data_volume=False).image_id,
                  zone=f"{OTHER_REGION}a", name="legacy-mail")
    west.delete_volume(VolumeId=west_volume)
    gone = "ami-0123456789abcdef0"
    before = fleet_state(east, west)
    # The first root measured (legacy-app's, sources are measured in the order given) is refused, as without the permission.
    lab_ebs.faults.inject("ListSnapshotBlocks", "AccessDeniedException",
                          message="User is not authorized to perform: ebs:ListSnapshotBlocks")
    reports, capture = tmp_path / "reports", tmp_path / "requests.jsonl"

    run = run_playbook(PLAYBOOK, {
        "pv2hvm_source_instance_ids": [app, web, mail], "pv2hvm_source_image_ids": [db_image, gone],
        "pv2hvm_assess_regions": [OTHER_REGION, LAB_REGION],
        "pv2hvm_aws_endpoint_url": lab_ebs.url, "pv2hvm_aws_region": LAB_REGION, "pv2hvm_report_dir": str(reports),
        "pv2hvm_assess_assumptions": {"copy_mib_per_second": 1},
    }, env=lab_ebs.env(), capture_file=str(capture))

    assert run.rc == 0, run.explain()
    records = {record["source"]: record for record in json.loads((reports / "pv2hvm-assessment.json").read_text(encoding="utf-8"))}
    # Each given id is assessed in the region it was found in; one found in none is refused, naming the regions.
    assert {source: (record["region"], record["verdict"]) for source, record in records.items()} == {
        app: (LAB_REGION, "migratable"), web: (LAB_REGION, "migratable"), mail: (OTHER_REGION, "migratable"),
        db_image: (LAB_REGION, "migratable"), gone: ("", "refused")}
    assert records[gone]["reason"].startswith(f"image {gone} was not found in any of the regions {OTHER_REGION}, {LAB_REGION}.")
    # Used bytes: the AMI's root snapshot and the newest snapshot of web's root, block by block.
    image = records[db_image]
    assert (image["root_gib"], image["used_bytes"]) == (1, 5 * BLOCK_SIZE), image
    assert image["used_bytes_basis"] == f"5 blocks of {BLOCK_SIZE} bytes in {root}", image
    assert records[web]["used_bytes"] == 6 * BLOCK_SIZE and f"6 blocks of {BLOCK_SIZE} bytes in {web_newest} taken 20" in records[web]["used_bytes_basis"]
    # Fallbacks: the whole volume, with the reason.
    assert records[mail]["used_bytes"] == GIB
    assert records[mail]["used_bytes_basis"] == f"whole volume: {root_volume(west, mail)} has no completed snapshot"
    assert records[app]["used_bytes"] == GIB
    assert records[app]["used_bytes_basis"].startswith("whole volume: ebs:ListSnapshotBlocks on snap-") and \
        "was refused (AccessDeniedException): User is not authorized" in records[app]["used_bytes_basis"], records[app]
    # The copy time follows the used bytes: 2.5 MiB at 1 MiB/s adds nothing to the 15 fixed minutes, 1 GiB adds 17.
    assert (image["estimated_minutes"], records[mail]["estimated_minutes"]) == (15, 32)
    rows = list(csv.DictReader((reports / "pv2hvm-assessment.csv").open(encoding="utf-8")))
    assert {(row["source"], row["region"], row["used_bytes"]) for row in rows} == {
        (source, record["region"], str(record["used_bytes"])) for source, record in records.items()}
    markdown = (reports / "pv2hvm-assessment.md").read_text(encoding="utf-8")
    assert f"- {LAB_REGION}: 3 migratable\n- {OTHER_REGION}: 1 migratable\n- found in no region: 1 refused\n" in markdown, markdown
    summary = [result["msg"] for result in run.task_results("cloudops.pv2hvm.pv2hvm : Summarise the assessment")]
    assert summary and summary[0].startswith(
        f"5 sources: 4 migratable, 0 already-hvm, 1 refused. By region - {LAB_REGION}: 3 migratable; "
        f"{OTHER_REGION}: 1 migratable; found in no region: 1 refused."), summary
    # Read-only: only Describe* and List* calls, exactly those of docs/iam-policy-assess.json; nothing new anywhere.
    operations = {call[0] for call in RequestLog.read(str(capture)).calls}
    assert all(name.startswith(("Describe", "List")) for name in operations), operations
    assert operations == policy_actions("Pv2hvmAssess", "iam-policy-assess.json"), operations
    assert {call[1]["SnapshotId"] for call in RequestLog.read(str(capture)).calls if call[0] == "ListSnapshotBlocks"} == {
        root, web_newest, records[app]["used_bytes_basis"].split(" on ")[1].split()[0]}
    assert fleet_state(east, west) == before


def test_discovery_runs_in_every_region(lab: Any, ec2: Any, tmp_path: Path) -> None:
    west = region_client(lab, OTHER_REGION)
    east_image = register_pv_image(ec2, name="legacy-web", data_volume=False).image_id
    east_instance = launch(ec2, east_image)
    west_volume = west.create_volume(Size=2, AvailabilityZone=f"{OTHER_REGION}a")["VolumeId"]
    west_image = register_pv_image(west, name="legacy-mail", data_volume=False,
                                   root_snapshot=west.create_snapshot(VolumeId=west_volume)["SnapshotId"]).image_id
    west_root = west.create_volume(Size=2, AvailabilityZone=f"{OTHER_REGION}a")["VolumeId"]
    register_pv_image(west, name="modern", data_volume=False, VirtualizationType="hvm",
                      root_snapshot=west.create_snapshot(VolumeId=west_root)["SnapshotId"])
    reports = tmp_path / "reports"
    run = run_playbook(PLAYBOOK, {"pv2hvm_assess_discover": True, "pv2hvm_assess_regions": [LAB_REGION, OTHER_REGION],
                                  "pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_report_dir": str(reports)}, env=lab.env())
    assert run.rc == 0, run.explain()
    records = json.loads((reports / "pv2hvm-assessment.json").read_text(encoding="utf-8"))
    assert {(record["source"], record["region"], record["verdict"]) for record in records} == {
        (east_instance, LAB_REGION, "migratable"), (east_image, LAB_REGION, "migratable"),
        (west_image, OTHER_REGION, "migratable")}
    # Lab roots never written hold no block: nothing to copy, measured from their snapshots.
    assert {record["used_bytes"] for record in records if record["kind"] == "image"} == {0}
