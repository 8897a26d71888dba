# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a migration's AMI carries in its tags so that a re-run can finish it without the worker's facts.

A run that dies after RegisterImage and before the boot test leaves an AMI whose conversion facts are
gone; the re-run still has to pick the test instance type (Nitro or Xen) and give the same advice.
The readiness flags that decide both are kept in one tag, as the names of the flags that are true
(only characters every AWS service accepts in a tag value)."""

from __future__ import annotations

from typing import Any, Dict

# The boot_config_readiness flags that choose the instance type and the advice.
READINESS_FLAGS = ("nvme_in_initramfs", "ena_module", "xen_hvm_ready", "nitro_ready")


def readiness_tag(readiness: Dict[str, Any]) -> str:
    """The pv2hvm:readiness tag value: the true flags, space separated, or "none"."""
    unknown = [flag for flag in READINESS_FLAGS if flag not in readiness]
    if unknown:
        raise ValueError(f"readiness lacks {', '.join(unknown)}: pass boot_config_readiness")
    return " ".join(flag for flag in READINESS_FLAGS if readiness[flag]) or "none"


def readiness_from_tag(value: str) -> Dict[str, bool]:
    """The flags back from a pv2hvm:readiness tag value; an absent or unknown tag means not ready."""
    words = set((value or "").split())
    return {flag: flag in words for flag in READINESS_FLAGS}
