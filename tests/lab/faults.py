"""Fault injection for the lab's EC2 endpoint: a named API call answers with an AWS error.

The moto server runs in the test process (tests/lab/endpoint.py), so a test arms a fault here and the
modules, which run as separate processes and reach the endpoint over HTTP, see it:

    lab.faults.inject("CreateVolume", "VolumeLimitExceeded")            # the next call fails
    lab.faults.inject("DescribeInstances", "RequestLimitExceeded", times=3)  # three calls throttled
    lab.faults.stick("CreateSnapshot")   # the next snapshot made stays "pending" for ever
    lab.faults.after("CreateVolume", kill_the_controller)  # runs once the next call has succeeded

Each fault answers with EC2's error XML and HTTP 400 (503 for throttling, as EC2 does), then lets the
call through once it has answered `times` times. Every request of an armed operation is counted, so a
test can tell a retried call from a single one. Nothing is armed unless a test arms it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from moto.core.responses import ActionResult, BaseResponse
from moto.ec2.exceptions import EC2ClientError

# What AWS documents for each code (the messages a user would see).
MESSAGES = {
    "RequestLimitExceeded": "Request limit exceeded.",
    "Throttling": "Rate exceeded",
    "InsufficientInstanceCapacity": "We currently do not have sufficient capacity in the Availability Zone you requested.",
    "VolumeLimitExceeded": "You have exceeded your maximum gp3 storage limit of 50 TiB in this region.",
    "SnapshotCreationPerVolumeRateExceeded": "The maximum per volume CreateSnapshot request rate has been exceeded.",
}
THROTTLING = {"RequestLimitExceeded", "Throttling"}


def _backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID  # pylint: disable=import-outside-toplevel
    from moto.ec2.models import ec2_backends  # pylint: disable=import-outside-toplevel

    from tests.lab.endpoint import LAB_REGION  # pylint: disable=import-outside-toplevel

    return ec2_backends[DEFAULT_ACCOUNT_ID][LAB_REGION]


def _snapshot_pending(resource_id: str) -> None:
    _backend().snapshots[resource_id].status = "pending"


def _attachment_attaching(resource_id: str) -> None:
    _backend().volumes[resource_id].attachment.status = "attaching"


# A resource that never becomes ready: after the call succeeds, the resource it made (its id read
# from the response) is left in the state a stuck one shows.
STUCK = {
    "CreateSnapshot": ("snapshotId", _snapshot_pending),
    "AttachVolume": ("volumeId", _attachment_attaching),
}


@dataclass
class Fault:
    operation: str
    code: str
    times: int
    message: str
    answered: int = 0


@dataclass
class Faults:
    """The armed faults of this process's lab endpoint, and the calls each armed operation saw."""

    _armed: dict[str, Fault] = field(default_factory=dict)
    _stuck: dict[str, int] = field(default_factory=dict)
    _calls: dict[str, int] = field(default_factory=dict)
    _after: dict[str, list[Any]] = field(default_factory=dict)  # operation -> [calls still to go, action, text its parameters must hold]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, operation: str, code: str, times: int = 1, message: str | None = None) -> None:
        if times < 1:
            raise ValueError(f"a fault answers at least once, not {times} times")
        with self._lock:
            self._armed[operation] = Fault(operation, code, times, message or MESSAGES.get(code, code))
            self._calls.setdefault(operation, 0)

    def stick(self, operation: str, times: int = 1) -> None:
        """Leave what the next `times` calls of `operation` make stuck (see STUCK)."""
        if operation not in STUCK:
            raise ValueError(f"no stuck state for {operation}; known: {', '.join(STUCK)}")
        with self._lock:
            self._stuck[operation] = times
            self._calls.setdefault(operation, 0)

    def after(self, operation: str, action: Callable[[], None], calls: int = 1, matching: str = "") -> None:
        """Run `action` once, when the `calls`-th next call of `operation` (whose parameters contain `matching`,
        if given) has succeeded and before it is answered: AWS has made the resource, the caller does not know
        it yet (e.g. the controller dies then)."""
        if calls < 1:
            raise ValueError(f"an action runs after at least one call, not {calls}")
        with self._lock:
            self._after[operation] = [calls, action, matching]
            self._calls.setdefault(operation, 0)

    def after_due(self, operation: str, params: dict[str, Any] | None = None) -> Callable[[], None] | None:
        with self._lock:
            armed = self._after.get(operation)
            if armed is None:
                return None
            if armed[2] and armed[2] not in str(params or {}):
                return None
            armed[0] -= 1
            if armed[0] > 0:
                return None
            return self._after.pop(operation)[1]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._stuck.clear()
            self._after.clear()
            self._calls.clear()

    def stuck_due(self, operation: str) -> bool:
        with self._lock:
            if self._stuck.get(operation, 0) < 1:
                return False
            self._stuck[operation] -= 1
            return True

    def calls(self, operation: str) -> int:
        """How many requests of `operation` arrived since it was first armed."""
        with self._lock:
            return self._calls.get(operation, 0)

    def answered(self, operation: str) -> int:
        with self._lock:
            fault = self._armed.get(operation)
            return fault.answered if fault else 0

    def due(self, operation: str) -> Fault | None:
        """Count a request of `operation`; the fault to answer it with, if one is still due."""
        with self._lock:
            if operation not in self._calls:
                return None
            self._calls[operation] += 1
            fault = self._armed.get(operation)
            if fault is None or fault.answered >= fault.times:
                return None
            fault.answered += 1
            return fault


FAULTS = Faults()
_ORIGINAL_CALL_ACTION = BaseResponse.call_action


def _call_action(self: BaseResponse) -> Any:
    operation = self._get_action()
    fault = FAULTS.due(operation) if FAULTS._calls else None  # pylint: disable=protected-access
    if fault is None:
        response = _ORIGINAL_CALL_ACTION(self)
        if operation in STUCK and FAULTS.stuck_due(operation):
            key, make_stuck = STUCK[operation]
            found = re.search(rf"<{key}>([^<]+)</{key}>", str(response[2]))
            if found is None:
                raise RuntimeError(f"lab faults: no {key} in the {operation} response to leave stuck")
            make_stuck(found.group(1))
        action = FAULTS.after_due(operation, self.querystring) if response[0] < 400 else None
        if action is not None:
            action()
        return response
    # Serialized as moto serializes the errors its backends raise: EC2's error XML.
    status, headers, body = self.serialized(ActionResult(EC2ClientError(fault.code, fault.message)))
    return (503 if fault.code in THROTTLING else status), headers, body


def install() -> None:
    """Route every moto call through the fault table (idempotent)."""
    BaseResponse.call_action = _call_action


def installed() -> bool:
    return BaseResponse.__dict__.get("call_action") is _call_action
