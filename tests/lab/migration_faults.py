"""Faults a whole migration meets (issue 17), run through the playbook in a migration lab.

- stuck: a resource that never becomes ready; the step's wait times out and the rollback leaves nothing.
- crashed: the controller is killed (tests/support/crash.py) at every step in turn, each run resuming the
  one before, until a plain re-run converges on one completed AMI with nothing else left.

The tests (tests/integration/migration/test_stuck.py, test_crash.py) assert on what these return;
`make faults` (tests/bench/faults.py) prints it, one line per case.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tests.lab.migration import MigrationLab
from tests.lab.system import mounted, sha256_file
from tests.support.crash import Crash, arm, crash_env, killed_lines
from tests.support.playbooks import PlaybookRun

# (operation left stuck, the step that waits for it, what it waits for)
STUCK = [
    ("CreateSnapshot", "Snapshot the source (the only thing done to it)", "snapshot completed"),
    ("AttachVolume", "Stage the working copy of the root on the worker", "volume attached"),
]
STUCK_WAIT_SECONDS = 20

# Each step of issue 17's list, in the order a migration reaches them; each run resumes the one before.
EVERY_STEP = [
    Crash("inspect", "tree", task="Inspect the source"),
    Crash("snapshot", "group", api="CreateSnapshot"),
    Crash("stage", "tree", api="CreateVolume"),
    Crash("attach", "group", api="AttachVolume"),
    Crash("clone", "tree", task="Check the copy"),
    Crash("boot_config", "tree", task="Build the initramfs of each kernel with the image's own tool", in_chroot=True),
    Crash("grub_install", "group", task="Install the GRUB package in the image", in_chroot=True),
    Crash("detach", "group", api="DetachVolume"),
    # The AMI's root snapshot, not the source's: a part of the chain may start on a lab where nothing was made yet.
    Crash("destination snapshot", "tree", api="CreateSnapshot", request="of HVM AMI"),
    Crash("register", "group", api="RegisterImage"),
    Crash("test instance", "tree", api="RunInstances"),
    Crash("cleanup", "tree", api="DeleteVolume"),
    Crash("report", "group", task="Write the JSON report"),
]
CONVERSION_LEFTOVERS = ("usr/sbin/policy-rc.d", "etc/resolv.conf.pv2hvm-saved", "etc/resolv.conf.pv2hvm-absent",
                        "etc/apt/pv2hvm-sources.list", "var/lib/apt/pv2hvm-lists")

# The workerless method (pv2hvm_method: ebs_direct), this machine its conversion host: killed half-way through the
# upload (the lab image's HVM disk has about a thousand non-zero blocks), or while the image's tools run in its chroot.
DIRECT_UPLOAD_CRASH = Crash("upload", "tree", api="PutSnapshotBlock", calls=500)
DIRECT_CHROOT_CRASH = Crash("boot_config", "tree", task="Build the initramfs of each kernel with the image's own tool", in_chroot=True)


@dataclass
class Stuck:
    operation: str
    step: str
    seconds: float
    run: PlaybookRun
    report: dict[str, Any]
    leaked: list[str]  # tagged resources, loop devices and source changes the rollback left
    message: str = ""


@dataclass
class Killed:
    crash: Crash
    seconds: float
    killed: list[str]  # the callback's log lines of this run (exactly one when it died as armed)
    rc: int
    left: list[str]  # the migration's tagged resources after the kill
    source_unchanged: bool
    chroot_mounts_left: int
    died_at: float = field(default_factory=time.time)

    @property
    def died_as_armed(self) -> bool:
        return self.rc == -9 and len(self.killed) == 1


@dataclass
class Converged:
    run: PlaybookRun
    seconds: float
    report: dict[str, Any]
    leaked: list[str]  # what the converged migration left besides its AMI and the AMI's snapshots


def mounts_under(path: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
            if line.split()[1] == str(path) or line.split()[1].startswith(f"{path}/")]


def source_state(lab: MigrationLab, source: str) -> tuple[str, str, str]:
    """The source instance's state and the bytes of its root volume and of the PV AMI's snapshot."""
    described = lab.ec2.describe_instances(InstanceIds=[source])["Reservations"][0]["Instances"][0]
    root_volume = described["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    return (described["State"]["Name"], sha256_file(lab.lab.ebs.volume_file(root_volume)),
            sha256_file(lab.lab.ebs.snapshot_file(lab.pv.root_snapshot)))


def stuck(lab: MigrationLab, source: str, worker: str, operation: str, step: str) -> Stuck:
    before = source_state(lab, source)
    lab.lab.faults.stick(operation)
    started = time.monotonic()
    run = lab.migrate([source], pv2hvm_worker_instance_id=worker, pv2hvm_aws_wait_timeout=STUCK_WAIT_SECONDS)
    seconds = time.monotonic() - started
    lab.lab.faults.clear()
    report = lab.report(source)
    leaked = lab.tagged(f"pv2hvm-{source}") + [f"loop device {loop}" for loop in lab.lab.ebs.loops]
    if source_state(lab, source) != before:
        leaked.append(f"source {source} changed")
    return Stuck(operation, step, round(seconds, 1), run, report, leaked, report.get("failure", {}).get("message", ""))


def crash(lab: MigrationLab, source: str, worker: str, crash_at: Crash) -> Killed:
    """Run the migration and kill its controller at `crash_at`."""
    arm(lab.lab, crash_at, lab.work)
    before = len(killed_lines(lab.work))
    source_before = source_state(lab, source)
    started = time.monotonic()
    # In a session of its own: a process-group kill must not reach the caller.
    run = lab.migrate([source], capture="crashed.jsonl", env=crash_env(crash_at, lab.work), own_session=True,
                      pv2hvm_worker_instance_id=worker)
    seconds = time.monotonic() - started
    lab.lab.faults.clear()
    return Killed(crash_at, round(seconds, 1), killed_lines(lab.work)[before:], run.rc, sorted(lab.tagged(f"pv2hvm-{source}")),
                  source_state(lab, source) == source_before, len(mounts_under(lab.work / "mnt" / f"pv2hvm-{source}")))


# The chain cut in three, each run on a lab of its own so that pytest's two workers share it: killed before the
# conversion (nothing on the worker yet), in the conversion (the chroot's mounts left), after it (AWS resources
# only). Each part is run again until it converges, so every step is still killed once, in order within its part.
CHAIN_PARTS = {"before conversion": EVERY_STEP[:5], "conversion": EVERY_STEP[5:8], "after conversion": EVERY_STEP[8:]}


def kill_at_every_step(lab: MigrationLab, source: str, worker: str, steps: list[Crash] | None = None) -> Iterator[Killed]:
    for crash_at in EVERY_STEP if steps is None else steps:
        yield crash(lab, source, worker, crash_at)


def converge(lab: MigrationLab, source: str, worker: str) -> Converged:
    """The same command once more, plainly; then what the migration left besides its AMI."""
    migration = f"pv2hvm-{source}"
    started = time.monotonic()
    run = lab.migrate([source], capture="rerun.jsonl", pv2hvm_worker_instance_id=worker)
    seconds = time.monotonic() - started
    report = lab.report(source) if (lab.work / "reports" / f"{migration}.json").exists() else {}
    image_id = report.get("image", {}).get("image_id")
    kept: list[str] = []
    if image_id:
        image = lab.ec2.describe_images(ImageIds=[image_id])["Images"][0]
        kept = [image_id, *[m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]]
    leaked = [item for item in lab.tagged(migration) if item not in kept]
    leaked += [f"mount {path}" for path in mounts_under(lab.work / "mnt" / migration)]
    leaked += [f"loop device {loop}" for loop in lab.lab.ebs.loops]
    if Path(f"/var/tmp/{migration}.progress.json").exists():
        leaked.append(f"/var/tmp/{migration}.progress.json")
    if image_id:
        with ami_root(lab, image_id) as root:
            leaked += [f"{path} in the AMI's root" for path in CONVERSION_LEFTOVERS if (root / path).exists()]
    return Converged(run, round(seconds, 1), report, leaked)


def direct_vars(work: Path) -> dict[str, Any]:
    return {"pv2hvm_method": "ebs_direct", "pv2hvm_conversion_dir": str(work / "images")}


def direct_crash(lab: MigrationLab, source: str, crash_at: Crash) -> PlaybookRun:
    """The ebs_direct migration, its controller (and conversion host) killed at `crash_at`."""
    arm(lab.lab, crash_at, lab.work)
    run = lab.migrate([source], capture="crashed.jsonl", env=crash_env(crash_at, lab.work), own_session=True, **direct_vars(lab.work))
    lab.lab.faults.clear()
    return run


def cleanup_conversion_host(lab: MigrationLab, migration: str) -> PlaybookRun:
    """cleanup.yml for one migration, given this machine as the worker or conversion host, confirmed."""
    from tests.lab.demo import write_inventory  # pylint: disable=import-outside-toplevel
    from tests.lab.endpoint import LAB_REGION  # pylint: disable=import-outside-toplevel
    from tests.support.modules import REPO_ROOT  # pylint: disable=import-outside-toplevel
    from tests.support.playbooks import run_playbook  # pylint: disable=import-outside-toplevel

    cleanup_vars = {"pv2hvm_aws_endpoint_url": lab.lab.url, "pv2hvm_aws_region": LAB_REGION, "pv2hvm_cleanup_migration_id": migration,
                    "pv2hvm_cleanup_worker_host": "localhost", "pv2hvm_worker_mount_base": str(lab.work / "mnt"),
                    "pv2hvm_conversion_dir": str(lab.work / "images"), "pv2hvm_cleanup_confirm": True}
    return run_playbook(REPO_ROOT / "playbooks" / "cleanup.yml", cleanup_vars, env=lab.lab.env(), inventory=write_inventory(lab.work))


def loops_on(image: Path) -> list[str]:
    listed = subprocess.run(["losetup", "--noheadings", "--output", "NAME", "--associated", str(image)], capture_output=True,
                            text=True, check=True)
    return listed.stdout.split()


def conversion_host_leftovers(lab: MigrationLab, source: str) -> list[str]:
    """What an ebs_direct migration left on its conversion host: mounts, loop devices on its image, files."""
    migration = f"pv2hvm-{source}"
    image = lab.work / "images" / f"{migration}.img"
    left = [f"mount {path}" for path in mounts_under(lab.work / "mnt" / migration)]
    left += [f"loop device {loop}" for loop in loops_on(image)]
    if image.parent.exists():
        left += [str(path) for path in image.parent.iterdir()]
    return left


@contextmanager
def ami_root(lab: MigrationLab, image_id: str) -> Iterator[Path]:
    """The AMI's root filesystem (partition 1 of its root snapshot), mounted read-only."""
    root_disk = lab.root_disk_of_image(image_id)
    device = subprocess.run(["losetup", "--find", "--show", "--read-only", "--offset", str(1 << 20), str(root_disk)],
                            capture_output=True, text=True, check=True).stdout.strip()
    try:
        with mounted(device, read_only=True, options="noload") as root:
            yield root
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)
