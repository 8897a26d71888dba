"""cleanup.yml, assess.yml and convert_image.yml refuse a bad input by name - the variable, the value it got and the
form expected - before they remove, read or write anything (migrate_pv_to_hvm.yml's table is
test_migrate_validation.py; the rules are plugins/plugin_utils/inputs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.endpoint import LAB_REGION
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import run_playbook

MIGRATION = "pv2hvm-i-0123456789abcdef0"

CLEANUP = {
    "a source id, not a migration id": ({"pv2hvm_cleanup_migration_id": "i-0123456789abcdef0"},
                                        "pv2hvm_cleanup_migration_id: got 'i-0123456789abcdef0'; expected a migration id like "
                                        "pv2hvm-i-0123456789abcdef0"),
    "an age in words": ({"pv2hvm_cleanup_migration_id": "", "pv2hvm_cleanup_older_than_hours": "yesterday"},
                        "pv2hvm_cleanup_older_than_hours: got 'yesterday'; expected a whole number of hours, 0 or more"),
    "one purpose as a string": ({"pv2hvm_cleanup_purposes": "image"},
                                "pv2hvm_cleanup_purposes: got 'image'; expected a non-empty list of working-copy, destination"),
    "a purpose there is not": ({"pv2hvm_cleanup_purposes": ["volumes"]}, "pv2hvm_cleanup_purposes: got ['volumes']"),
    "confirm neither true nor false": ({"pv2hvm_cleanup_confirm": "maybe"}, "pv2hvm_cleanup_confirm: got 'maybe'; expected true or false"),
    "a zone, not a region": ({"pv2hvm_aws_region": "us-east-1a"}, "pv2hvm_aws_region: got 'us-east-1a'; expected a region like eu-west-1"),
}

ASSESS = {
    "one region as a string": ({"pv2hvm_assess_regions": "eu-west-1"},
                               "pv2hvm_assess_regions: got 'eu-west-1'; expected a list of regions, not a string"),
    "a region by its name": ({"pv2hvm_assess_regions": ["Ireland"]}, "pv2hvm_assess_regions: got ['Ireland']; expected a list of regions"),
    "not an instance id": ({"pv2hvm_source_instance_ids": ["web-01"]},
                           "pv2hvm_source_instance_ids: got ['web-01']; expected a list of instance ids like i-0123456789abcdef0"),
    "discover neither true nor false": ({"pv2hvm_assess_discover": "sometimes"}, "pv2hvm_assess_discover: got 'sometimes'; expected true or false"),
    "no report directory": ({"pv2hvm_report_dir": ""}, "pv2hvm_report_dir: got '' (empty); expected a directory path"),
}

CONVERT = {
    "no source image": ({"pv2hvm_source_image": ""}, "pv2hvm_source_image: got '' (empty); expected a file path"),
    "a size in words": ({"pv2hvm_dest_size": "big"}, "pv2hvm_dest_size: got 'big'; expected a size like 8G, 8GiB or a number of bytes"),
    "a negative size": ({"pv2hvm_dest_size": "-5G"}, "pv2hvm_dest_size: got '-5G'"),
    "force neither true nor false": ({"pv2hvm_force": "sure"}, "pv2hvm_force: got 'sure'; expected true or false"),
    "a partition table there is not": ({"pv2hvm_partition_table": "bsd"}, "pv2hvm_partition_table: got 'bsd'; expected one of msdos, gpt"),
    "a boot disk without /dev": ({"pv2hvm_boot_disk": "nvme0n1"}, "pv2hvm_boot_disk: got 'nvme0n1'; expected a disk device like /dev/nvme0n1"),
}


@pytest.mark.parametrize("case", list(CLEANUP))
def test_cleanup_refuses_bad_input_by_name_and_removes_nothing(lab: Any, ec2: Any, case: str) -> None:
    # A confirmed clean-up of a migration that has a volume: had the input passed, the volume would go.
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{LAB_REGION}a", TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": "pv2hvm:migration", "Value": MIGRATION}, {"Key": "pv2hvm:purpose", "Value": "destination"}]}])
    overrides, message = CLEANUP[case]
    extra = {"pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION, "pv2hvm_cleanup_migration_id": MIGRATION,
             "pv2hvm_cleanup_confirm": True, **overrides}
    run = run_playbook(REPO_ROOT / "playbooks" / "cleanup.yml", extra, env=lab.env())
    assert run.rc != 0
    assert any(message in failure and "Nothing was removed." in failure for failure in run.failures()), run.explain()
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [volume["VolumeId"]]


@pytest.mark.parametrize("case", list(ASSESS))
def test_assess_refuses_bad_input_by_name_and_reads_nothing(lab: Any, ec2: Any, case: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    overrides, message = ASSESS[case]
    extra = {"pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION, "pv2hvm_report_dir": str(reports),
             "pv2hvm_source_instance_ids": ["i-0123456789abcdef0"], **overrides}
    capture = tmp_path / "requests.jsonl"
    run = run_playbook(REPO_ROOT / "playbooks" / "assess.yml", extra, env=lab.env(), capture_file=str(capture))
    assert run.rc != 0
    assert any(message in failure and "Nothing was read." in failure for failure in run.failures()), run.explain()
    assert not reports.exists(), "no report is written"
    assert not capture.exists() or capture.read_text(encoding="utf-8").strip() == "", "no AWS call was made"


@pytest.mark.parametrize("case", list(CONVERT))
def test_convert_image_refuses_bad_input_by_name_and_writes_nothing(case: str, tmp_path: Path) -> None:
    source = tmp_path / "pv.img"
    source.write_bytes(b"\0" * 4096)
    dest = tmp_path / "hvm.img"
    overrides, message = CONVERT[case]
    extra = {"pv2hvm_source_image": str(source), "pv2hvm_dest_image": str(dest), **overrides}
    run = run_playbook(REPO_ROOT / "playbooks" / "convert_image.yml", extra)
    assert run.rc != 0
    assert any(message in failure and "Nothing was written." in failure for failure in run.failures()), run.explain()
    assert not dest.exists()
    assert source.read_bytes() == b"\0" * 4096
