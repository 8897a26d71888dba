# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The progress file options of the modules that move a disk's blocks (module_utils/progress.py)."""

    DOCUMENTATION = r"""
options:
  progress_file:
    description:
      - Path of a JSON file the module rewrites while it works, as M(cloudops.pv2hvm.disk_clone)'s - C(state)
        (C(running), C(done), C(failed)), C(phase) (the step it is in), C(bytes_done), C(bytes_total), C(percent),
        C(rate_bytes_per_second), C(eta_seconds) and C(message). Not written in check mode.
    type: path
    version_added: 0.2.0
  progress_interval:
    description: Seconds between two updates of O(progress_file).
    type: float
    default: 5.0
    version_added: 0.2.0
"""
