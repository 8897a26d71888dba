"""migrate_pv_to_hvm.yml refuses bad input with a message that says what to fix, before creating anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.demo import PLAYBOOK
from tests.lab.endpoint import LAB_REGION
from tests.lab.world import launch, launch_worker, register_pv_image
from tests.support.playbooks import run_playbook

CASES = {
    "no source": ({}, "Say what to migrate"),
    "not an instance id": ({"pv2hvm_source_instance_ids": ["web-01"]},
                           "pv2hvm_source_instance_ids: got ['web-01']; expected a list of instance ids like i-0123456789abcdef0"),
    "a short instance id": ({"pv2hvm_source_instance_ids": ["i-123"]}, "pv2hvm_source_instance_ids: got ['i-123']"),
    "a source twice": ({"pv2hvm_source_instance_ids": ["i-0123456789abcdef0"] * 2}, "each source once (twice: i-0123456789abcdef0)"),
    "a string, not a list": ({"pv2hvm_source_instance_ids": "i-0123456789abcdef0"},
                             "pv2hvm_source_instance_ids: got 'i-0123456789abcdef0'; expected a list of instance ids, not a string"),
    "two workers": ({"pv2hvm_worker_launch": {"image_id": "ami-0123456789abcdef0", "instance_type": "t3.small"}}, "Give exactly one worker"),
    "launch without a type": ({"pv2hvm_worker_instance_id": "", "pv2hvm_worker_launch": {"image_id": "ami-0123456789abcdef0"}},
                              "Give exactly one worker"),
    "bad partition table": ({"pv2hvm_partition_table": "bsd"}, "pv2hvm_partition_table: got 'bsd'; expected one of msdos, gpt"),
    "negative size": ({"pv2hvm_destination_size": -4}, "pv2hvm_destination_size: got -4; expected a whole number of GiB, 0 or more"),
    "size not a number": ({"pv2hvm_destination_size": "big"}, "pv2hvm_destination_size: got 'big'"),
    "empty report directory": ({"pv2hvm_report_dir": ""}, "pv2hvm_report_dir: got '' (empty)"),
    "zero wait": ({"pv2hvm_aws_wait_timeout": 0}, "pv2hvm_aws_wait_timeout: got 0; expected a positive whole number of seconds"),
    # The lab AMI's root is 8 GiB: 8 GiB cannot also hold the partition table and the conversion's headroom.
    "destination as small as the source": ({"pv2hvm_destination_size": 8}, "Set pv2hvm_destination_size to at least 9"),
    "source is the worker": ({"pv2hvm_source_instance_ids": ["WORKER"]}, "Give exactly one worker"),
    "unknown method": ({"pv2hvm_method": "dd"}, "pv2hvm_method: got 'dd'; expected one of worker, ebs_direct"),
    "method with a dash": ({"pv2hvm_method": "ebs-direct"}, "pv2hvm_method: got 'ebs-direct'"),
    # ebs_direct has no worker: one given is a mistake, not something to ignore.
    "ebs_direct with a worker": ({"pv2hvm_method": "ebs_direct"}, "with no worker: leave pv2hvm_worker_instance_id"),
    "ebs_direct into a relative directory": ({"pv2hvm_method": "ebs_direct", "pv2hvm_worker_instance_id": "",
                                              "pv2hvm_conversion_dir": "images"}, "pv2hvm_conversion_dir: got 'images'; expected an absolute path"),
    "ebs_direct on an unknown host": ({"pv2hvm_method": "ebs_direct", "pv2hvm_worker_instance_id": "",
                                       "pv2hvm_conversion_host": "converter"}, "pv2hvm_conversion_host is an inventory host"),
    # A running source's own host (read before it is snapshotted) must be a host of the inventory, for a source migrated.
    "source host not in the inventory": ({"pv2hvm_source_hosts": {"SOURCE": "no-such-host"}}, "Add the hosts to the inventory"),
    "source host of another instance": ({"pv2hvm_source_hosts": {"i-0123456789abcdef0": "localhost"}},
                                        "each also in pv2hvm_source_instance_ids"),
    "package mirror as a string": ({"pv2hvm_package_mirror": "http://mirror/debian"}, "argument 'pv2hvm_package_mirror' is of type str"),
    "package mirror of no family": ({"pv2hvm_package_mirror": {"Ubuntu": "http://mirror/ubuntu"}}, "'Ubuntu' is not an OS family"),
    "package proxy without a scheme": ({"pv2hvm_package_proxy": "proxy:3128"},
                                       "pv2hvm_package_proxy must be an http:// or https:// proxy URL, got 'proxy:3128'"),
    # No region anywhere (the environment below has none): amazon.aws would say "requires a region" later.
    "no region": ({"pv2hvm_aws_region": ""}, "pv2hvm_aws_region: got '' (empty); expected a region like eu-west-1: set pv2hvm_aws_region"),
    "a zone, not a region": ({"pv2hvm_aws_region": "us-east-1a"}, "pv2hvm_aws_region: got 'us-east-1a'; expected a region like eu-west-1"),
    "zero poll interval": ({"pv2hvm_poll_interval": 0}, "pv2hvm_poll_interval: got 0; expected a positive whole number of seconds"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_anything_is_created(lab: Any, ec2: Any, case: str, tmp_path: Path) -> None:
    source = launch(ec2, register_pv_image(ec2).image_id)
    worker = launch_worker(ec2)
    overrides, message = CASES[case]
    extra = {"pv2hvm_source_instance_ids": [source], "pv2hvm_worker_instance_id": worker, "pv2hvm_worker_host": "localhost",
             "pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION,
             "pv2hvm_report_dir": str(tmp_path / "reports")}  # a refusal in the stage step still writes its report
    extra.update(overrides)
    if extra["pv2hvm_source_instance_ids"] == ["WORKER"]:
        extra["pv2hvm_source_instance_ids"] = [worker]
    if "SOURCE" in extra.get("pv2hvm_source_hosts", {}):
        extra["pv2hvm_source_hosts"] = {source: extra["pv2hvm_source_hosts"]["SOURCE"]}
    if case == "no source":
        extra["pv2hvm_source_instance_ids"] = []
    volumes, snapshots = len(ec2.describe_volumes()["Volumes"]), len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])
    env = {**lab.env(), **({"AWS_REGION": "", "AWS_DEFAULT_REGION": ""} if case == "no region" else {})}
    run = run_playbook(PLAYBOOK, extra, env=env)
    assert run.rc != 0
    assert any(message in failure for failure in run.failures()), run.explain()
    assert len(ec2.describe_volumes()["Volumes"]) == volumes
    assert len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == snapshots


def test_check_mode_is_refused_at_once_and_points_to_the_assessment(lab: Any, ec2: Any, tmp_path: Path) -> None:
    source = launch(ec2, register_pv_image(ec2).image_id)
    extra = {"pv2hvm_source_instance_ids": [source], "pv2hvm_worker_instance_id": launch_worker(ec2), "pv2hvm_worker_host": "localhost",
             "pv2hvm_aws_endpoint_url": lab.url, "pv2hvm_aws_region": LAB_REGION, "pv2hvm_report_dir": str(tmp_path / "reports")}
    run = run_playbook(PLAYBOOK, extra, env=lab.env(), check=True)
    assert run.rc != 0
    assert run.failures() and all("ansible-playbook cloudops.pv2hvm.assess" in failure for failure in run.failures()), run.explain()
    assert run.total("ok") == 0, "nothing ran before the refusal"
    assert not (tmp_path / "reports").exists()
