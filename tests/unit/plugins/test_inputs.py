"""Each input refused by name: the variable, the value it got and the form expected."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.inputs import RULES, problems

GOOD = {
    "pv2hvm_source_instance_ids": ["i-0123456789abcdef0"],
    "pv2hvm_source_image_ids": [],
    "pv2hvm_method": "ebs_direct",
    "pv2hvm_worker_instance_id": "",
    "pv2hvm_destination_size": "12",
    "pv2hvm_conversion_headroom_mib": 0,
    "pv2hvm_partition_table": "gpt",
    "pv2hvm_verify_copy": "content",
    "pv2hvm_destination_volume_type": "gp3",
    "pv2hvm_root_device_name": "/dev/xvda",
    "pv2hvm_migration_id_prefix": "pv2hvm",
    "pv2hvm_report_dir": "/tmp/reports",
    "pv2hvm_conversion_dir": "/var/tmp/pv2hvm",
    "pv2hvm_aws_wait_timeout": 1800,
    "pv2hvm_release_wait_timeout": "600",
    "pv2hvm_poll_interval": 10,
    "pv2hvm_progress_interval": 1,
    "pv2hvm_ebs_direct_parallel": 64,
    "pv2hvm_worker_terminate_retries": 0,
    "pv2hvm_worker_terminate_delay": "5",
    "pv2hvm_aws_region": "eu-west-1",
    "pv2hvm_cleanup_migration_id": "pv2hvm-i-0123456789abcdef0",
    "pv2hvm_cleanup_older_than_hours": -1,
    "pv2hvm_cleanup_purposes": ["working-copy", "destination"],
    "pv2hvm_cleanup_keep_completed": "yes",
    "pv2hvm_cleanup_confirm": False,
    "pv2hvm_assess_regions": ["eu-west-1", "us-east-1"],
    "pv2hvm_assess_discover": "false",
    "pv2hvm_source_image": "pv.img",
    "pv2hvm_dest_image": "/var/tmp/hvm.img",
    "pv2hvm_dest_size": "8GiB",
    "pv2hvm_force": True,
    "pv2hvm_install_packages": "true",
    "pv2hvm_boot_disk": "/dev/nvme0n1",
}

BAD = [
    ("pv2hvm_source_instance_ids", ["i-123"], "'i-123'", "instance ids like i-0123456789abcdef0"),
    ("pv2hvm_source_instance_ids", "i-0123456789abcdef0", "'i-0123456789abcdef0'", "not a string"),
    ("pv2hvm_source_instance_ids", ["i-0123456789abcdef0"] * 2, "i-0123456789abcdef0", "each source once"),
    ("pv2hvm_source_image_ids", ["i-0123456789abcdef0"], "'i-0123456789abcdef0'", "AMI ids like ami-"),
    ("pv2hvm_method", "ebs-direct", "'ebs-direct'", "one of worker, ebs_direct"),
    ("pv2hvm_worker_instance_id", "worker-1", "'worker-1'", "an instance id like"),
    ("pv2hvm_destination_size", -5, "-5", "0 or more"),
    ("pv2hvm_destination_size", "big", "'big'", "a whole number of GiB"),
    ("pv2hvm_destination_size", True, "True", "a whole number of GiB"),
    ("pv2hvm_partition_table", "mbr", "'mbr'", "msdos, gpt"),
    ("pv2hvm_verify_copy", "full", "'full'", "none, content"),
    ("pv2hvm_destination_volume_type", "gp4", "'gp4'", "gp3"),
    ("pv2hvm_root_device_name", "/dev/nvme0n1", "'/dev/nvme0n1'", "/dev/xvda"),
    ("pv2hvm_migration_id_prefix", "-x", "'-x'", "letters, digits"),
    ("pv2hvm_report_dir", "", "'' (empty)", "must not be empty"),
    ("pv2hvm_conversion_dir", "tmp/x", "'tmp/x'", "an absolute path"),
    ("pv2hvm_aws_wait_timeout", 0, "0", "a positive whole number of seconds"),
    ("pv2hvm_poll_interval", "1.5", "'1.5'", "a positive whole number of seconds"),
    ("pv2hvm_ebs_direct_parallel", 65, "65", "from 1 to 64"),
    ("pv2hvm_worker_terminate_retries", -1, "-1", "a whole number of tries, 0 or more"),
    ("pv2hvm_worker_terminate_delay", 0, "0", "a positive whole number of seconds"),
    ("pv2hvm_aws_region", "Ireland", "'Ireland'", "a region like eu-west-1"),
    ("pv2hvm_cleanup_migration_id", "i-0123456789abcdef0", "'i-0123456789abcdef0'", "a migration id like pv2hvm-i-"),
    ("pv2hvm_cleanup_migration_id", "pv2hvm-*", "'pv2hvm-*'", "the pv2hvm:migration tag"),
    ("pv2hvm_cleanup_older_than_hours", "a day", "'a day'", "a whole number of hours, 0 or more"),
    ("pv2hvm_cleanup_older_than_hours", -2, "-2", "-1, the default: not by age"),
    ("pv2hvm_cleanup_purposes", "image", "'image'", "a non-empty list of working-copy"),
    ("pv2hvm_cleanup_purposes", [], "[]", "a non-empty list"),
    ("pv2hvm_cleanup_keep_completed", "maybe", "'maybe'", "true or false"),
    ("pv2hvm_cleanup_confirm", "Y", "'Y'", "true or false"),
    ("pv2hvm_assess_regions", "eu-west-1", "'eu-west-1'", "not a string"),
    ("pv2hvm_assess_regions", ["Ireland"], "['Ireland']", "a list of regions like"),
    ("pv2hvm_assess_discover", 2, "2", "true or false"),
    ("pv2hvm_source_image", "", "'' (empty)", "a file path"),
    ("pv2hvm_dest_image", " ", "' '", "a file path"),
    ("pv2hvm_dest_size", "-5G", "'-5G'", "a size like 8G, 8GiB"),
    ("pv2hvm_dest_size", "8 gigabytes", "'8 gigabytes'", "or a number of bytes"),
    ("pv2hvm_force", "sure", "'sure'", "true or false"),
    ("pv2hvm_install_packages", None, "None", "true or false"),
    ("pv2hvm_boot_disk", "nvme0n1", "'nvme0n1'", "a disk device like /dev/nvme0n1"),
]


def test_good_inputs_pass() -> None:
    assert problems(GOOD) == []


@pytest.mark.parametrize("name, value, shown, expected", BAD, ids=[f"{case[0]}={case[1]!r}" for case in BAD])
def test_a_bad_input_is_named_with_its_value_and_the_form_expected(name: str, value: object, shown: str, expected: str) -> None:
    [message] = problems({**GOOD, name: value})
    assert message.startswith(f"{name}: got ") and shown in message and expected in message, message


def test_every_bad_case_has_a_rule_and_every_rule_a_bad_case() -> None:
    assert {case[0] for case in BAD} - {"pv2hvm_aws_region"} <= set(RULES)
    unchecked = {"pv2hvm_conversion_headroom_mib", "pv2hvm_release_wait_timeout", "pv2hvm_progress_interval"}
    assert set(RULES) - {case[0] for case in BAD} == unchecked, "each of these shares its rule with a case above"


def test_no_region_passes_only_when_the_environment_names_one() -> None:
    [message] = problems({**GOOD, "pv2hvm_aws_region": ""})
    assert "pv2hvm_aws_region" in message and "AWS_REGION" in message, message
    assert problems({**GOOD, "pv2hvm_aws_region": ""}, environment_region="eu-west-1") == []


def test_no_source_at_all_says_what_to_migrate() -> None:
    [message] = problems({**GOOD, "pv2hvm_source_instance_ids": []})
    assert "Say what to migrate" in message and "pv2hvm_source_image_ids" in message, message


def test_no_source_is_left_to_the_assessment_when_it_may_discover_them() -> None:
    assert problems({**GOOD, "pv2hvm_source_instance_ids": []}, sources_required=False) == []


def test_sizes_convert_image_takes() -> None:
    for size in ("8G", "8GiB", "8 GB", "1.5G", "512m", "1073741824", 1073741824, ""):
        assert problems({"pv2hvm_dest_size": size}) == [], size


def test_only_the_given_variables_are_checked() -> None:
    assert problems({"pv2hvm_method": "worker"}) == []
    assert problems({"some_other_variable": -1}) == []


def test_the_region_botocore_would_find_counts_as_given(tmp_path, monkeypatch) -> None:
    """A region from the environment or from the profile in the AWS config file (as botocore finds it)."""
    from ansible_collections.cloudops.pv2hvm.plugins.filter.inputs import aws_configured_region

    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-central-1\n[profile prod]\nregion = ap-southeast-2\n", encoding="utf-8")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert aws_configured_region() == "eu-central-1"
    assert aws_configured_region("prod") == "ap-southeast-2"
    assert aws_configured_region("no-such-profile") == ""
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert aws_configured_region() == "us-west-2"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing"))
    monkeypatch.delenv("AWS_REGION")
    assert aws_configured_region() == ""
