# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' input checks as a filter (plugins/plugin_utils/inputs.py)."""

from __future__ import annotations

import os

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import inputs


def input_problems(values, environment_region="", sources_required=True):
    """One message per bad input among `values` (variable name -> value), naming the variable, its value and the form;
    with `sources_required`, also when neither source list names a source."""
    return inputs.problems(dict(values), environment_region, sources_required)


def checked_inputs(names):
    """The names among `names` that have a rule (the others are not inputs, or are checked elsewhere)."""
    return [name for name in names if name in inputs.RULES or name == "pv2hvm_aws_region"]


def aws_configured_region(profile=""):
    """The region the AWS modules find without pv2hvm_aws_region: AWS_REGION, AWS_DEFAULT_REGION or EC2_REGION
    (amazon.aws reads them), else the profile's region in the AWS config file, as botocore reads it ("" when
    none, or when the profile does not exist)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "EC2_REGION"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import botocore.exceptions
        import botocore.session
    except ImportError:
        return ""
    try:
        return botocore.session.Session(profile=profile or None).get_config_variable("region") or ""
    except botocore.exceptions.BotoCoreError:
        return ""


class FilterModule:
    """Input checks of the playbooks."""

    def filters(self):
        return {"input_problems": input_problems, "checked_inputs": checked_inputs, "aws_configured_region": aws_configured_region}
