# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' inputs, each checked on its own before anything is created.

One rule per variable: what it must look like, said as the message a user reads. `problems()` returns one
line per bad input, naming the variable, the value it got and the form expected, so that a user never
has to guess which of nine options a message is about (and never reads ansible-core's argument-spec dump).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")
EXAMPLE_INSTANCE = "i-0123456789abcdef0"
EXAMPLE_IMAGE = "ami-0123456789abcdef0"
# A migration's id (its pv2hvm:migration tag): pv2hvm_migration_id_prefix, '-', the source's id; or a launched
# worker's (pv2hvm-worker-<hash>).
MIGRATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*-((i|ami)-[0-9A-Za-z]+|worker-[0-9a-f]+)$")
CLEANUP_PURPOSES = ("working-copy", "destination", "data-copy", "image", "test-instance", "worker")
# What convert_image.yml's size takes: bytes, or a number with K/M/G/T (1024-based), optionally B or iB.
IMAGE_SIZE = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*([KMGT](i?B)?)?\s*$", re.IGNORECASE)
BOOLEANS = (True, False, "true", "false", "yes", "no", "True", "False", "1", "0", 1, 0)


def _whole(value: Any) -> Optional[int]:
    """An integer given as a number or as digits (extra vars from -e k=v are strings); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def _id_list(pattern: re.Pattern, example: str, what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str):
            return (f"a list of {what}, not a string: -e '{{\"...\": [\"{example}\"]}}' (JSON), or a list in a vars "
                    "file")
        if not isinstance(value, (list, tuple)):
            return f"a list of {what} like {example}"
        bad = [item for item in value if not isinstance(item, str) or not pattern.match(item)]
        if bad:
            return f"a list of {what} like {example} (not {', '.join(repr(item) for item in bad)})"
        doubled = sorted({item for item in value if value.count(item) > 1})
        if doubled:
            return f"each source once (twice: {', '.join(doubled)})"
        return ""
    return check


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if value in choices else "one of " + ", ".join(choices)
    return check


def _at_least(low: int, unit: str, high: Optional[int] = None, note: str = "") -> Callable[[Any], str]:
    if high is not None:
        form = f"a whole number of {unit} from {low} to {high}"
    elif low == 1:
        form = f"a positive whole number of {unit}"
    else:
        form = f"a whole number of {unit}, {low} or more"

    def check(value: Any) -> str:
        number = _whole(value)
        return "" if number is not None and number >= low and (high is None or number <= high) else form + note
    return check


def _matching(pattern: str, form: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if isinstance(value, str) and re.fullmatch(pattern, value) else form
    return check


def _optional_instance(value: Any) -> str:
    if value in ("", None) or (isinstance(value, str) and INSTANCE_ID.match(value)):
        return ""
    return f"an instance id like {EXAMPLE_INSTANCE}, or empty"


def _ids_or_empty(pattern: re.Pattern, form: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if value in ("", None) or (isinstance(value, str) and pattern.match(value)) else form
    return check


def _boolean(value: Any) -> str:
    return "" if value in BOOLEANS else "true or false"


def _choices_list(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, (list, tuple)) and value and all(item in choices for item in value):
            return ""
        return "a non-empty list of " + ", ".join(choices)
    return check


def _regions(value: Any) -> str:
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) and REGION.match(item) for item in value):
        return ""
    if isinstance(value, str):
        return "a list of regions, not a string: -e '{\"pv2hvm_assess_regions\": [\"eu-west-1\", \"us-east-1\"]}' (JSON)"
    return "a list of regions like [eu-west-1, us-east-1]"


def _hours_or_unset(value: Any) -> str:
    number = _whole(value)
    return "" if number is not None and number >= -1 else "a whole number of hours, 0 or more (-1, the default: not by age)"


def _image_size(value: Any) -> str:
    if value in ("", None) or (isinstance(value, (str, int)) and not isinstance(value, bool) and IMAGE_SIZE.match(str(value))):
        return ""
    return "a size like 8G, 8GiB or a number of bytes, or empty (sized for the source and the conversion)"


def _file_path(value: Any) -> str:
    return "" if isinstance(value, str) and value.strip() else "a file path (it must not be empty)"


def _path(value: Any) -> str:
    return "" if isinstance(value, str) and value.strip() else "a directory path (it must not be empty)"


def _absolute(value: Any) -> str:
    return "" if isinstance(value, str) and value.startswith("/") and len(value) > 1 else "an absolute path, like /var/tmp/pv2hvm"


RULES: Dict[str, Callable[[Any], str]] = {
    "pv2hvm_source_instance_ids": _id_list(INSTANCE_ID, EXAMPLE_INSTANCE, "instance ids"),
    "pv2hvm_source_image_ids": _id_list(IMAGE_ID, EXAMPLE_IMAGE, "AMI ids"),
    "pv2hvm_method": _choice("worker", "ebs_direct"),
    "pv2hvm_worker_instance_id": _optional_instance,
    "pv2hvm_destination_size": _at_least(0, "GiB", note=" (0: sized for the source and the conversion)"),
    "pv2hvm_conversion_headroom_mib": _at_least(0, "MiB"),
    "pv2hvm_partition_table": _choice("msdos", "gpt"),
    "pv2hvm_verify_copy": _choice("none", "content"),
    "pv2hvm_destination_volume_type": _choice(*VOLUME_TYPES),
    "pv2hvm_root_device_name": _matching(r"/dev/(sd|xvd)[a-z]", "a device name like /dev/xvda or /dev/sda"),
    "pv2hvm_migration_id_prefix": _matching(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "letters, digits, '.', '_' and '-'"),
    "pv2hvm_report_dir": _path,
    "pv2hvm_conversion_dir": _absolute,
    "pv2hvm_aws_wait_timeout": _at_least(1, "seconds"),
    "pv2hvm_release_wait_timeout": _at_least(1, "seconds"),
    "pv2hvm_poll_interval": _at_least(1, "seconds"),
    "pv2hvm_progress_interval": _at_least(1, "seconds"),
    "pv2hvm_ebs_direct_parallel": _at_least(1, "parallel requests", high=64),
    "pv2hvm_worker_terminate_retries": _at_least(0, "tries"),
    "pv2hvm_worker_terminate_delay": _at_least(1, "seconds"),
    # cleanup.yml
    "pv2hvm_cleanup_migration_id": _ids_or_empty(MIGRATION_ID, "a migration id like pv2hvm-i-0123456789abcdef0 or "
                                                               "pv2hvm-worker-0123456789ab (the pv2hvm:migration tag), or empty"),
    "pv2hvm_cleanup_older_than_hours": _hours_or_unset,
    "pv2hvm_cleanup_purposes": _choices_list(*CLEANUP_PURPOSES),
    "pv2hvm_cleanup_keep_completed": _boolean,
    "pv2hvm_cleanup_confirm": _boolean,
    # assess.yml
    "pv2hvm_assess_regions": _regions,
    "pv2hvm_assess_discover": _boolean,
    # convert_image.yml
    "pv2hvm_source_image": _file_path,
    "pv2hvm_dest_image": _file_path,
    "pv2hvm_dest_size": _image_size,
    "pv2hvm_force": _boolean,
    "pv2hvm_install_packages": _boolean,
    "pv2hvm_boot_disk": _matching(r"/dev/[a-z][a-z0-9]*", "a disk device like /dev/nvme0n1 or /dev/xvda"),
}


def problems(values: Dict[str, Any], environment_region: str = "", sources_required: bool = True) -> List[str]:
    """One message per bad input among `values` (variable name -> value), in the order given.

    A variable without a rule is not checked here. pv2hvm_aws_region, when given in `values`, may be empty
    only when the environment names a region (AWS_REGION, AWS_DEFAULT_REGION or the profile's:
    `environment_region`).
    The sources: at least one of the two lists, when both are given and `sources_required` (assess.yml may discover
    its sources instead, and says so itself when there are none).
    """
    found = []
    for name, value in values.items():
        if name == "pv2hvm_aws_region":
            expected = _region(value, environment_region)
        elif name in RULES:
            expected = RULES[name](value)
        else:
            continue
        if expected:
            found.append(f"{name}: got {_shown(value)}; expected {expected}.")
    sources = [values.get("pv2hvm_source_instance_ids"), values.get("pv2hvm_source_image_ids")]
    if (sources_required and "pv2hvm_source_instance_ids" in values and "pv2hvm_source_image_ids" in values
            and all(isinstance(ids, (list, tuple)) and not ids for ids in sources)):
        found.append("Say what to migrate: pv2hvm_source_instance_ids (instance ids like "
                     f"{EXAMPLE_INSTANCE}) and/or pv2hvm_source_image_ids (AMI ids like {EXAMPLE_IMAGE}), both empty.")
    return found


def _region(value: Any, environment_region: str) -> str:
    if value in ("", None):
        if environment_region:
            return ""
        return "a region like eu-west-1: set pv2hvm_aws_region, AWS_REGION in the environment, or a region in the AWS profile"
    return "" if isinstance(value, str) and REGION.match(value) else "a region like eu-west-1"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if value else "'' (empty)"
    return repr(value)
