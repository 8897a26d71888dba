"""A playbook of the three AWS-side modules takes a PV AMI to an HVM AMI in the lab.

Also checks what the modules send against docs/iam-policy.json: the policy must allow
every EC2 call they make, and nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.waiter

from tests.lab.capture import RequestLog
from tests.lab.endpoint import LAB_REGION
from tests.lab.world import launch_worker, own_snapshot_ids, register_pv_image, volumes_tagged
from tests.support.iam import IMPLIED_ACTIONS, policy_actions
from tests.support.modules import REPO_ROOT
from tests.support.playbooks import run_playbook

HERE = Path(__file__).parent
MIGRATION = "mig-playbook"


def test_pv_ami_to_hvm_ami_with_the_three_modules(lab: Any, ec2: Any, tmp_path: Path) -> None:
    pv = register_pv_image(ec2, name="legacy-app")
    worker = launch_worker(ec2)
    source_snapshots = own_snapshot_ids(ec2)
    extra_vars = {
        "lab_endpoint_url": lab.url, "lab_region": LAB_REGION, "migration_id": MIGRATION,
        "pv_image_id": pv.image_id, "worker_instance_id": worker,
    }
    capture = tmp_path / "requests.jsonl"
    first = run_playbook(HERE / "pv_ami_to_hvm_ami.yml", extra_vars, env=lab.env(), capture_file=str(capture))
    assert first.rc == 0, first.explain()
    assert first.total("changed") == 4 and first.total("failures") == 0

    [image] = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["legacy-app-hvm"]}])["Images"]
    assert (image["VirtualizationType"], image["Architecture"], image["EnaSupport"]) == ("hvm", "x86_64", True)
    assert image["RootDeviceName"] == "/dev/xvda" and image["BootMode"] == "legacy-bios"
    mappings = {m["DeviceName"]: m for m in image["BlockDeviceMappings"]}
    assert mappings["/dev/sdf"]["Ebs"]["SnapshotId"] == pv.data_snapshot
    assert mappings["/dev/sdb"]["VirtualName"] == "ephemeral0"
    root_snapshot = mappings["/dev/xvda"]["Ebs"]["SnapshotId"]
    destination = next(v for v in volumes_tagged(ec2, MIGRATION) if {"Key": "pv2hvm:purpose", "Value": "destination"} in v["Tags"])
    assert ec2.describe_snapshots(SnapshotIds=[root_snapshot])["Snapshots"][0]["VolumeId"] == destination["VolumeId"]

    rerun_capture = tmp_path / "rerun.jsonl"
    second = run_playbook(HERE / "pv_ami_to_hvm_ami.yml", extra_vars, env=lab.env(), capture_file=str(rerun_capture))
    assert second.rc == 0, second.explain()
    # Nothing new is created: the same volumes and AMI are found by their tags and name. Only the
    # destination moves again (this playbook has no "already done" guard: it re-attaches, then detaches).
    assert second.changed_tasks() == ["Stage the destination, one GiB larger, on the worker", "Detach the destination from the worker"]
    assert {call[0] for call in RequestLog.read(str(rerun_capture)).calls} <= {
        "DescribeImages", "DescribeInstances", "DescribeSnapshots", "DescribeVolumes", "AttachVolume", "DetachVolume"}
    assert second.task_results("Register the HVM AMI")[0]["image_id"] == image["ImageId"]

    cleanup = run_playbook(HERE / "cleanup_staging.yml", dict(extra_vars, image_name="legacy-app-hvm", remove_image=True),
                           env=lab.env(), capture_file=str(capture))
    assert cleanup.rc == 0, cleanup.explain()
    assert volumes_tagged(ec2, MIGRATION) == []
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["legacy-app-hvm"]}])["Images"] == []
    assert own_snapshot_ids(ec2) == source_snapshots, "only the snapshot the migration made is gone; the source's are kept"
    assert ec2.describe_images(ImageIds=[pv.image_id])["Images"][0]["State"] == "available"

    sent = {call[0] for call in RequestLog.read(str(capture)).calls}
    assert sent <= policy_actions(), f"docs/iam-policy.json must allow every call the modules make: {sent - policy_actions()}"


def test_policy_is_exactly_the_calls_of_the_ec2_helpers_and_waiters(lab: Any) -> None:
    """Every EC2 call the modules can make is in module_utils/ec2.py or a waiter of waiters.py: the
    policy's module statements must allow those and nothing more."""
    from ansible_collections.cloudops.pv2hvm.plugins.module_utils import waiters  # pylint: disable=import-outside-toplevel

    source = (REPO_ROOT / "plugins" / "module_utils" / "ec2.py").read_text(encoding="utf-8")
    called = {name for name in re.findall(r"client\.(\w+)\(", source) if name not in {"get_paginator", "get_waiter"}}
    called |= set(re.findall(r'get_paginator\("(\w+)"\)', source))
    operations = {"".join(part.capitalize() for part in name.split("_")) for name in called}
    client = lab.client()
    for name in waiters.DELAYS:
        if name in waiters._CUSTOM_NAMES:  # pylint: disable=protected-access
            model = botocore.waiter.WaiterModel(waiters._CUSTOM_MODEL)  # pylint: disable=protected-access
            operations.add(model.get_waiter(waiters._CUSTOM_NAMES[name]).operation)  # pylint: disable=protected-access
        else:
            operations.add(client.get_waiter(name).config.operation)
    assert operations == policy_actions() - IMPLIED_ACTIONS
