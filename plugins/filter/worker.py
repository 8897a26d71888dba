# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for what a migration leaves on its worker; the logic is in plugin_utils/worker_state.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import worker_state


def mounts_under(mounts, path):
    """The mounts at or below `path` in /proc/mounts text, the last mounted first."""
    try:
        return worker_state.mounts_under(mounts, path)
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    """The worker-state filters."""

    def filters(self):
        return {"mounts_under": mounts_under}
