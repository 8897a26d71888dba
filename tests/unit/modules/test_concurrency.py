"""Several migrations share one worker: parallel attaches each get their own device name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import botocore.exceptions
import pytest

from tests.lab.world import launch_worker

PARALLEL = 8


def test_parallel_attaches_end_on_distinct_devices(ec2: Any, module: Any) -> None:
    worker = launch_worker(ec2)

    def stage(index: int) -> Any:
        # Each call is its own module process, as with `async` tasks or forks of one play.
        return module("volume", migration_id=f"mig-par-{index}", purpose="destination", size=1 + index, instance_id=worker)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(stage, range(PARALLEL)))
    assert [r.failed for r in results] == [False] * PARALLEL, [r.get("msg") for r in results]
    devices = [r["device_name"] for r in results]
    assert len(set(devices)) == PARALLEL, devices
    attached = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [worker]}])["Volumes"]
    states = {v["VolumeId"]: (v["Attachments"][0]["State"], v["Attachments"][0]["Device"]) for v in attached}
    for result in results:
        assert states[result["volume_id"]] == ("attached", result["device_name"])


class SlotRaceClient:
    """An EC2 client on which other migrations take the first slots between describe and attach."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.attempts: list[str] = []

    def attach_volume(self, aws_retry: bool, VolumeId: str, InstanceId: str, Device: str) -> dict[str, str]:  # noqa: N803  pylint: disable=invalid-name
        assert aws_retry
        self.attempts.append(Device)
        if Device in self.taken:
            message = f"Invalid value '{Device}' for unixDevice. Attachment point {Device} is already in use"
            raise botocore.exceptions.ClientError({"Error": {"Code": "InvalidParameterValue", "Message": message}}, "AttachVolume")
        return {"VolumeId": VolumeId, "InstanceId": InstanceId, "Device": Device}


def test_attach_moves_to_the_next_slot_when_aws_says_in_use() -> None:
    from ansible_collections.cloudops.pv2hvm.plugins.modules import volume  # pylint: disable=import-outside-toplevel

    client = SlotRaceClient(taken={"/dev/sdf", "/dev/sdg"})
    staging = volume.StagingVolume(SimpleNamespace(params={"device_name": None}, check_mode=False), client)
    staging.volume = {"VolumeId": "vol-1"}
    staging.attach({"InstanceId": "i-1", "BlockDeviceMappings": [{"DeviceName": "/dev/xvda"}]})
    assert client.attempts == ["/dev/sdf", "/dev/sdg", "/dev/sdh"]


def test_attach_to_a_named_device_does_not_wander() -> None:
    from ansible_collections.cloudops.pv2hvm.plugins.modules import volume  # pylint: disable=import-outside-toplevel

    client = SlotRaceClient(taken={"/dev/sdk"})
    staging = volume.StagingVolume(SimpleNamespace(params={"device_name": "/dev/sdk"}, check_mode=False), client)
    staging.volume = {"VolumeId": "vol-1"}
    with pytest.raises(botocore.exceptions.ClientError):
        staging.attach({"InstanceId": "i-1", "BlockDeviceMappings": []})
    assert client.attempts == ["/dev/sdk"]
