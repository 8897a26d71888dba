"""The EC2 fault matrix: every AWS step of a migration, with the faults a real account meets.

One case = one step (the module call the playbook makes for it, after what it needs first) and one
fault armed at the lab endpoint (tests/lab/faults.py). `run_case` runs it and measures it; the
tests (tests/integration/aws/test_api_faults.py) assert on the outcome and `make faults`
(tests/bench/faults.py) prints it, one line per case.

- throttled: the call is answered with throttling a few times; the retries must absorb it and the
  step must make exactly one resource.
- refused: a quota, capacity or rate error; the step must fail with what to do about it, leave
  nothing it made, and succeed when run again once the cause is gone.
"""

from __future__ import annotations

import tempfile
import time
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.lab.world import WORKER_AZ, launch, launch_worker, register_pv_image
from tests.support.modules import run_module

MIGRATION = "pv2hvm-i-0faults000000000"


@dataclass
class World:
    """A fresh lab region: a PV source (no data volume, so each step makes one resource) and a worker."""

    lab: Any
    ec2: Any
    source: str
    worker: str
    scratch: list[Path] = field(default_factory=list)  # the disk images' directories, removed by close()

    @classmethod
    def make(cls, lab: Any) -> "World":
        lab.reset()
        lab.faults.clear()
        ec2 = lab.client()
        return cls(lab, ec2, launch(ec2, register_pv_image(ec2, data_volume=False).image_id), launch_worker(ec2))

    def close(self) -> None:
        for directory in self.scratch:
            shutil.rmtree(directory, ignore_errors=True)

    def module(self, module_name: str, **args: Any) -> Any:
        return run_module(module_name, dict(self.lab.module_params(), **args), env=self.lab.env())

    def ok(self, module_name: str, **args: Any) -> Any:
        result = self.module(module_name, **args)
        if result.failed:
            raise AssertionError(f"{module_name} failed while preparing a case: {result.get('msg')}")
        return result

    def disk_image(self) -> str:
        """A small sparse disk image with data in its first blocks (what the workerless method uploads)."""
        self.scratch.append(Path(tempfile.mkdtemp(prefix="pv2hvm-faults-")))
        path = self.scratch[-1] / "hvm.img"
        with open(path, "wb") as handle:
            handle.truncate(64 << 20)
            for offset in (0, 1 << 20, 9 << 20):
                handle.seek(offset)
                handle.write(bytes(range(256)) * 4096)
        return str(path)

    def uploaded(self) -> dict[str, Any]:
        """A snapshot with data blocks, for a download to read, and where to download it."""
        image = self.disk_image()
        snapshot = self.ok("snapshot_upload", src=image, migration_id=MIGRATION, source_device="/dev/sdz")["snapshot_id"]
        return {"snapshot_id": snapshot, "dest": f"{image}.down"}

    def snapshots(self) -> Any:
        return self.ok("source_snapshots", instance_id=self.source, migration_id=MIGRATION)

    def destination(self, attach: bool = True) -> Any:
        where = {"instance_id": self.worker} if attach else {"availability_zone": WORKER_AZ}
        return self.ok("volume", migration_id=MIGRATION, purpose="destination", size=9, **where)

    def image(self) -> Any:
        volume = self.destination(attach=False)
        return self.ok("hvm_image", migration_id=MIGRATION, volume_id=volume["volume_id"], name=f"{MIGRATION}-hvm", architecture="x86_64")

    def tagged(self, kind: str) -> list[str]:
        """The migration's resources of one kind (volume, snapshot, image, instance), or of all ("")."""
        if not kind:
            return [item for each in ("volume", "snapshot", "image", "instance") for item in self.tagged(each)]
        filters = [{"Name": "tag:pv2hvm:migration", "Values": [MIGRATION]}]
        if kind == "volume":
            return [v["VolumeId"] for v in self.ec2.describe_volumes(Filters=filters)["Volumes"]]
        if kind == "snapshot":
            return [s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]]
        if kind == "image":
            return [i["ImageId"] for i in self.ec2.describe_images(Owners=["self"], Filters=filters)["Images"]]
        return [i["InstanceId"] for r in self.ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")]


@dataclass
class Step:
    """A step of the migration: what it needs first (`prepare`), and the module call that is the step."""

    prepare: Callable[[World], dict[str, Any]]
    call: Callable[[World, dict[str, Any]], Any]
    creates: str  # the kind of resource the step makes ("" for none)


def _hvm_image(world: World, prepared: dict[str, Any]) -> Any:
    return world.module("hvm_image", migration_id=MIGRATION, volume_id=prepared["volume_id"], name=f"{MIGRATION}-hvm", architecture="x86_64")


def _register_from_snapshot(world: World, prepared: dict[str, Any]) -> Any:
    return world.module("hvm_image", migration_id=MIGRATION, snapshot_id=prepared["snapshot_id"], name=f"{MIGRATION}-hvm",
                        architecture="x86_64")


STEPS = {
    "inspect": Step(lambda w: {}, lambda w, prepared: w.module("source_info", instance_id=w.source), ""),
    "snapshot": Step(lambda w: {}, lambda w, prepared: w.module("source_snapshots", instance_id=w.source, migration_id=MIGRATION), "snapshot"),
    "stage": Step(lambda w: {"snapshot_id": w.snapshots()["root_snapshot_id"]},
                  lambda w, p: w.module("volume", migration_id=MIGRATION, purpose="working-copy", snapshot_id=p["snapshot_id"],
                                        instance_id=w.worker), "volume"),
    "attach": Step(lambda w: {"volume_id": w.destination(attach=False)["volume_id"]},
                   lambda w, p: w.module("volume", migration_id=MIGRATION, purpose="destination", size=9, instance_id=w.worker), ""),
    "detach": Step(lambda w: {"volume_id": w.destination()["volume_id"]},
                   lambda w, p: w.module("volume", migration_id=MIGRATION, purpose="destination", state="detached"), ""),
    "destination-snapshot": Step(lambda w: {"volume_id": w.destination(attach=False)["volume_id"]}, _hvm_image, "image"),
    "register": Step(lambda w: {"volume_id": w.destination(attach=False)["volume_id"]}, _hvm_image, "image"),
    "test-instance": Step(lambda w: {"image_id": w.image()["image_id"]},
                          lambda w, p: w.module("test_instance", migration_id=MIGRATION, image_id=p["image_id"], instance_type="t3.micro"),
                          "instance"),
    "cleanup": Step(lambda w: {"volume_id": w.destination(attach=False)["volume_id"]},
                    lambda w, p: w.module("cleanup", migration_id=MIGRATION), ""),
    # The workerless method's own steps (pv2hvm_method: ebs_direct): EBS direct calls, then the AMI from the snapshot.
    "download": Step(lambda w: w.uploaded(), lambda w, p: w.module("snapshot_download", snapshot_id=p["snapshot_id"], dest=p["dest"]), ""),
    "upload": Step(lambda w: {"src": w.disk_image()},
                   lambda w, p: w.module("snapshot_upload", src=p["src"], migration_id=MIGRATION), "snapshot"),
    "register-from-snapshot": Step(lambda w: {"snapshot_id": w.uploaded()["snapshot_id"]}, _register_from_snapshot, "image"),
}

# (step, operation, code, times): throttling that the retries must absorb.
THROTTLED = [
    ("inspect", "DescribeInstances", "RequestLimitExceeded", 3),
    ("snapshot", "CreateSnapshot", "RequestLimitExceeded", 2),
    ("stage", "CreateVolume", "Throttling", 3),
    ("attach", "AttachVolume", "RequestLimitExceeded", 2),
    ("detach", "DetachVolume", "RequestLimitExceeded", 2),
    ("destination-snapshot", "CreateSnapshot", "Throttling", 2),
    ("register", "RegisterImage", "RequestLimitExceeded", 2),
    ("test-instance", "RunInstances", "RequestLimitExceeded", 2),
    ("cleanup", "DeleteVolume", "RequestLimitExceeded", 2),
    ("download", "ListSnapshotBlocks", "RequestThrottledException", 2),
    ("download", "GetSnapshotBlock", "RequestThrottledException", 3),
    ("upload", "StartSnapshot", "ServiceQuotaExceededException", 2),
    ("upload", "PutSnapshotBlock", "RequestThrottledException", 3),
    ("register-from-snapshot", "RegisterImage", "RequestLimitExceeded", 2),
]

# (step, operation, code, words the message must hold): errors that must stop the step cleanly.
REFUSED = [
    ("snapshot", "CreateSnapshot", "SnapshotCreationPerVolumeRateExceeded", "wait a few minutes and run it again"),
    ("stage", "CreateVolume", "VolumeLimitExceeded", "raise the quota in Service Quotas"),
    ("destination-snapshot", "CreateSnapshot", "SnapshotCreationPerVolumeRateExceeded", "wait a few minutes and run it again"),
    ("test-instance", "RunInstances", "InsufficientInstanceCapacity", "another type (pv2hvm_test_instance_type)"),
]


@dataclass
class Outcome:
    step: str
    fault: str
    outcome: str  # "retried and succeeded", "failed as it should", or what went wrong
    seconds: float
    leaked: list[str]  # what the faulted call left that it should not have (after the step's own clean-up)
    message: str = ""
    calls: int = 0
    answered: int = 0

    @property
    def passed(self) -> bool:
        return self.outcome in ("retried and succeeded", "failed as it should") and not self.leaked


def run_throttled(world: World, step: str, operation: str, code: str, times: int) -> Outcome:
    case = STEPS[step]
    prepared = case.prepare(world)
    before = world.tagged(case.creates) if case.creates else []
    world.lab.faults.inject(operation, code, times=times)
    started = time.monotonic()
    result = case.call(world, prepared)
    seconds = time.monotonic() - started
    made = [item for item in world.tagged(case.creates) if item not in before] if case.creates else []
    calls, answered = world.lab.faults.calls(operation), world.lab.faults.answered(operation)
    if result.failed:
        outcome = f"failed: {result.get('msg')}"
    elif answered != times or calls <= times:
        outcome = f"the fault was not met as armed ({answered} of {times} answered, {calls} calls)"
    elif case.creates and len(made) != 1:
        outcome = f"made {len(made)} {case.creates}s, not one"
    else:
        outcome = "retried and succeeded"
    leaked = made[1:] if len(made) > 1 else []
    return Outcome(step, f"{operation} {code} x{times}", outcome, round(seconds, 2), leaked, result.get("msg", ""), calls, answered)


def run_refused(world: World, step: str, operation: str, code: str, advice: str) -> Outcome:
    case = STEPS[step]
    prepared = case.prepare(world)
    before = world.tagged(case.creates)
    world.lab.faults.inject(operation, code, times=1)
    started = time.monotonic()
    result = case.call(world, prepared)
    seconds = time.monotonic() - started
    calls = world.lab.faults.calls(operation)
    leaked = [item for item in world.tagged(case.creates) if item not in before]
    message = result.get("msg", "")
    if not result.failed:
        outcome = f"succeeded despite {code}"
    elif code not in message or advice not in message:
        outcome = f"failed without saying what to do: {message}"
    elif calls != 1:
        outcome = f"{code} was retried ({calls} calls)"
    else:
        world.lab.faults.clear()
        again = case.call(world, prepared)
        made = [item for item in world.tagged(case.creates) if item not in before]
        outcome = ("failed as it should" if not again.failed and len(made) == 1
                   else f"running it again did not finish the step: {again.get('msg', '')} ({len(made)} made)")
    return Outcome(step, f"{operation} {code}", outcome, round(seconds, 2), leaked, message, calls, 1)
