# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' input checks as a filter (plugins/plugin_utils/inputs.py)."""

from __future__ import annotations

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import inputs


def input_problems(values, environment_region=""):
    """One message per bad input among `values` (variable name -> value), naming the variable, its value and the form."""
    return inputs.problems(dict(values), environment_region)


def checked_inputs(names):
    """The names among `names` that have a rule (the others are not inputs, or are checked elsewhere)."""
    return [name for name in names if name in inputs.RULES]


class FilterModule:
    """Input checks of the playbooks."""

    def filters(self):
        return {"input_problems": input_problems, "checked_inputs": checked_inputs}
