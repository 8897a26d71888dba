# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Waiting for EC2 state changes with botocore waiters (never sleep loops).

boto3 ships waiters for most states; the ones it lacks (a volume's attachment reaching
`attached`) are defined here in botocore's waiter model format.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict

try:
    import botocore.waiter
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

# How often each waiter polls, in seconds (AWS's own waiters use the same cadence).
DELAYS = {
    "volume_attached": 5,
    "volume_available": 5,
    "volume_deleted": 5,
    "snapshot_completed": 15,
    "image_available": 15,
    "instance_stopped": 15,
    "instance_running": 15,
    "instance_status_ok": 15,
    "system_status_ok": 15,
    "instance_terminated": 15,
}

# A lab or test endpoint whose resources change state within a second sets this (seconds between polls,
# e.g. 0.2) so that nothing waits AWS's cadence for them; unset against AWS.
DELAY_ENV = "PV2HVM_WAITER_DELAY_SECONDS"

_CUSTOM_MODEL = {
    "version": 2,
    "waiters": {
        "VolumeAttached": {
            "operation": "DescribeVolumes",
            "delay": DELAYS["volume_attached"],
            "maxAttempts": 120,
            "acceptors": [
                {"state": "success", "matcher": "pathAll", "argument": "Volumes[].Attachments[].State", "expected": "attached"},
                {"state": "failure", "matcher": "pathAny", "argument": "Volumes[].State", "expected": "deleted"},
                {"state": "retry", "matcher": "error", "expected": "InvalidVolume.NotFound"},
            ],
        },
    },
}
_CUSTOM_NAMES = {"volume_attached": "VolumeAttached"}


class WaitTimeout(Exception):
    """A waited-for state did not arrive (the message says which and for how long)."""


def wait_for(client: Any, name: str, timeout: int, **params: Any) -> None:
    """Block until the waiter `name` succeeds, polling every DELAYS[name] seconds (or $PV2HVM_WAITER_DELAY_SECONDS)
    for at most `timeout`."""
    delay = poll_delay(name)
    config: Dict[str, float] = {"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout / delay))}
    if name in _CUSTOM_NAMES:
        model = botocore.waiter.WaiterModel(_CUSTOM_MODEL)
        waiter = botocore.waiter.create_waiter_with_client(_CUSTOM_NAMES[name], model, client)
    else:
        waiter = client.get_waiter(name)
    try:
        waiter.wait(WaiterConfig=config, **params)
    except botocore.exceptions.WaiterError as error:
        raise WaitTimeout(f"gave up waiting for {name.replace('_', ' ')} after {timeout} s ({error})") from error


def poll_delay(name: str) -> float:
    """Seconds between two polls of the waiter `name`: AWS's cadence, unless DELAY_ENV sets a positive number."""
    try:
        override = float(os.environ.get(DELAY_ENV, "") or 0)
    except ValueError:
        override = 0
    return override if override > 0 else DELAYS[name]
