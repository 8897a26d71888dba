"""`make demo`: the whole migration against the lab, proven by booting the result.

1. start the lab (EC2 endpoint + EBS data plane) on 127.0.0.1;
2. build or reuse the Debian PV image (or take $PV2HVM_DEMO_IMAGE, a raw PV root disk);
3. register it as a PV AMI and launch a PV instance from it, and a worker (this machine);
4. run playbooks/migrate_pv_to_hvm.yml on that instance, with localhost as the worker;
5. boot the new AMI's root snapshot in qemu on IDE (Xen HVM) and on NVMe (Nitro), through an overlay
   that holds the boot check's probe (any image works, not only the lab's), with the AMI's data
   snapshots attached as its data volumes (the lab's machine has one, mounted from /dev/xvdf);
6. print the report and PASS/FAIL; the last line is one JSON object, with `boot_failure` (bus → reason)
   when a boot failed, and what each boot read on its data mounts (`data_files`, with the lab data
   volume's expected `data_volume`). Exit 0 only if both boots (or those PV2HVM_DEMO_BUSES names) pass and, for the lab's machine, each
   read its data volume's files.

PV2HVM_DEMO_METHOD=ebs_direct (`make demo PV2HVM_DEMO_METHOD=ebs_direct`) migrates with the EBS direct
APIs instead of a worker: this machine is the conversion host, no worker is registered and no volume is
made; the JSON line says which method ran (`method`) and counts the API calls that show it (`api_calls`).

PV2HVM_DEMO_EE=1 (`make demo PV2HVM_DEMO_EE=1`, after `make ee`) runs step 4 as AWX does instead:
ansible-navigator runs the playbook inside the execution environment, with the host network, and the
worker is this machine over SSH (tests/lab/sshd.py). Everything else, and the JSON line, is the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.lab.endpoint import LAB_REGION, LabEndpoint
from tests.lab.images import DATA_MOUNTPOINT, build_data_disk
from tests.lab.packages import lab_package_vars
from tests.lab.world import data_snapshots, launch, register_lab_worker, register_pv_image, seed_pv_root
from tests.support.modules import REPO_ROOT, module_env

DEMO_IMAGE_ENV = "PV2HVM_DEMO_IMAGE"
# Lab-only: break the converted image before the boot check, to see a failed boot (zero-mbr).
DEMO_FAULT_ENV = "PV2HVM_DEMO_FAULT"
PLAYBOOK = REPO_ROOT / "playbooks" / "migrate_pv_to_hvm.yml"
# Run the migration by ansible-navigator inside the execution environment (make ee), worker over SSH.
DEMO_EE_ENV = "PV2HVM_DEMO_EE"
# worker (default) or ebs_direct: how the migration moves the disk.
DEMO_METHOD_ENV = "PV2HVM_DEMO_METHOD"
METHODS = ("worker", "ebs_direct")
# The calls that tell the methods apart, counted in the JSON line.
COUNTED_CALLS = ("CreateVolume", "AttachVolume", "RunInstances", "ListSnapshotBlocks", "GetSnapshotBlock", "PutSnapshotBlock",
                 "CompleteSnapshot")
DEMO_EE_IMAGE_ENV = "PV2HVM_DEMO_EE_IMAGE"  # default: the image make ee builds
# The buses the result is booted on, comma-separated (default both: ide,nvme). Tests whose claim IDE does not
# add to (tests/boot_matrix.py) boot NVMe only.
DEMO_BUSES_ENV = "PV2HVM_DEMO_BUSES"
AWX_PLAYBOOK = REPO_ROOT / "docs" / "awx" / "migrate.yml"  # the README's AWX project playbook


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def pv_image() -> Path:
    """The user's raw PV image, or the lab's Debian bookworm PV image (built once, then cached)."""
    given = os.environ.get(DEMO_IMAGE_ENV)
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            raise SystemExit(f"{DEMO_IMAGE_ENV}={given} is not a file: give a raw PV root disk image (an unpartitioned filesystem).")
        return path
    from tests.lab.images import build_pv_image  # pylint: disable=import-outside-toplevel

    image = build_pv_image()
    say(f"PV image {image.disk} ({'cached' if image.cached else f'built in {image.build_seconds:.0f} s'})")
    return image.disk


def write_inventory(directory: Path, workers: dict[str, dict[str, Any]] | None = None, python: str = sys.executable) -> Path:
    """The lab's inventory: localhost is the controller and, reached locally, the worker.

    `workers` adds hosts by name (e.g. an SSH worker: tests/lab/sshd.py's `inventory_host()`)."""
    inventory = directory / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": python,
    }, **(workers or {})}}}), encoding="utf-8")
    return inventory


def migration_vars(lab: LabEndpoint, work: Path, sources: list[str], **extra: Any) -> dict[str, Any]:
    """Extra vars that point migrate_pv_to_hvm.yml at the lab, with localhost as the worker."""
    return {
        "pv2hvm_source_instance_ids": sources,
        "pv2hvm_worker_host": "localhost",
        "pv2hvm_worker_by_id_dir": str(lab.ebs.by_id),
        "pv2hvm_worker_mount_base": str(work / "mnt"),
        "pv2hvm_aws_endpoint_url": lab.url,
        "pv2hvm_aws_region": LAB_REGION,
        "pv2hvm_report_dir": str(work / "reports"),
        # The lab's timings: a progress line every second (AWS: every 10 s; the lab's copies take seconds).
        "pv2hvm_progress_interval": 1,
        "pv2hvm_poll_interval": 1,
        "pv2hvm_worker_terminate_delay": 1,
        # The lab's package mirror on 127.0.0.1 for the image's GRUB package (tests/lab/packages.py).
        **lab_package_vars(),
        **extra,
    }


def method_vars(method: str, work: Path, worker: str) -> dict[str, Any]:
    """The method's own extra vars: the worker, or this machine as the conversion host."""
    if method == "ebs_direct":
        return {"pv2hvm_method": "ebs_direct", "pv2hvm_conversion_dir": str(work / "images")}
    return {"pv2hvm_worker_instance_id": worker}


def migrate(lab: LabEndpoint, work: Path, source: str, worker: str, method: str = "worker") -> int:
    """Run the playbook with its output on this terminal, as a user would see it."""
    extra_vars = migration_vars(lab, work, [source], **method_vars(method, work, worker))
    env = module_env(lab.env(), capture_file=str(work / "requests.jsonl"))
    env.update(ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    command = [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK), "-i", str(write_inventory(work)),
               "-e", json.dumps(extra_vars)]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode


def migrate_in_ee(lab: LabEndpoint, work: Path, source: str, worker: str) -> int:
    """PV2HVM_DEMO_EE=1: the same migration as AWX runs it - ansible-navigator in the EE (`make ee`).

    A project folder holds the README's AWX playbook (docs/awx/migrate.yml), the inventory and the job's
    extra vars (the source as a survey string); the
    controller plays run in the container (host network: the lab is on 127.0.0.1), the worker is this
    machine over SSH (tests/lab/sshd.py), with the key copied into the project for the EE's user."""
    from tests.lab import ee  # pylint: disable=import-outside-toplevel
    from tests.lab.sshd import LabSshd  # pylint: disable=import-outside-toplevel

    image = os.environ.get(DEMO_EE_IMAGE_ENV, ee.ee_image())
    if not ee.image_exists(image):
        raise SystemExit(f"{DEMO_EE_ENV}=1: there is no image {image}: build it with `make ee` (or name one in {DEMO_EE_IMAGE_ENV}).")
    project = work / "project"
    project.mkdir()
    playbook = Path(shutil.copy(AWX_PLAYBOOK, project))
    # As AWX passes a survey: the sources as one string, the rest as the job template's extra variables.
    job_vars = migration_vars(lab, work, [], pv2hvm_worker_instance_id=worker, pv2hvm_worker_host="worker")
    del job_vars["pv2hvm_source_instance_ids"]
    extra_vars = project / "vars.json"
    extra_vars.write_text(json.dumps({**job_vars, "pv2hvm_survey_instance_ids": source}), encoding="utf-8")
    (work / "reports").mkdir()
    with LabSshd() as sshd:
        key, known_hosts = Path(shutil.copy(sshd.client_key, project)), Path(shutil.copy(sshd.known_hosts, project))
        inventory = write_inventory(project, {"worker": sshd.inventory_host(key, known_hosts)}, python="/usr/bin/python3")
        uid = ee.image_user(image)
        for path in (project, key, known_hosts, playbook, extra_vars, inventory, work / "reports"):
            os.chown(path, uid, 0)
        say(f"ansible-navigator in {image}; worker over SSH at 127.0.0.1:{sshd.port}")
        command = ee.navigator_command(playbook, inventory, extra_vars, lab.env(), image,
                                       [work / "reports"], work / "navigator.log")
        with ee.mqueue_dir():
            return subprocess.run(command, cwd=project, env=ee.navigator_env(), check=False).returncode


def boot_checks(lab: LabEndpoint, image_id: str, work: Path) -> tuple[dict[str, bool], dict[str, str], dict[str, Any]]:
    """Boot the AMI's root snapshot, with its data snapshots as data volumes, on each bus: whether each
    booted, why each failure failed, and what each boot found on its data mounts (mount point ->
    {"device", "files": "<count> <sha256>"})."""
    from tests.lab.bootcheck import boot  # pylint: disable=import-outside-toplevel

    image = lab.client().describe_images(ImageIds=[image_id])["Images"][0]
    root = next(m for m in image["BlockDeviceMappings"] if m["DeviceName"] == image["RootDeviceName"])
    disk = lab.ebs.snapshot_file(root["Ebs"]["SnapshotId"])
    if os.environ.get(DEMO_FAULT_ENV) == "zero-mbr":
        say(f"{DEMO_FAULT_ENV}=zero-mbr: zeroing the MBR of the AMI's root snapshot (a broken conversion)")
        with open(disk, "r+b") as handle:
            handle.write(bytes(512))
    data = tuple(data_snapshots(lab, image_id))
    booted, failures, data_files = {}, {}, {}
    for bus in demo_buses():
        result = boot(disk, bus, log_dir=work / "boot", data_disks=data)
        say(f"boot on {bus}: {'PASS' if result.booted else 'FAIL'} in {result.seconds:.0f} s ({result.accel}) - {result.summary}")
        booted[bus] = result.booted
        if result.booted and result.probe:
            devices = {line.split()[1]: line.split()[0] for line in result.probe["mount"] if len(line.split()) == 3}
            data_files[bus] = {directory: {"device": devices.get(directory, ""), "files": facts}
                               for directory, facts in result.probe["files"].items()}
            for directory, seen in data_files[bus].items():
                say(f"  {seen['device']} mounted at {directory} on {bus}: {seen['files'].split()[0]} files read")
        else:
            failures[bus] = result.reason
    return booted, failures, data_files


def demo_buses() -> tuple[str, ...]:
    """The buses to boot on: $PV2HVM_DEMO_BUSES, or both."""
    from tests.lab.bootcheck import BUSES  # pylint: disable=import-outside-toplevel

    chosen = tuple(bus.strip() for bus in (os.environ.get(DEMO_BUSES_ENV) or ",".join(BUSES)).split(",") if bus.strip())
    if not chosen or set(chosen) - set(BUSES):
        raise SystemExit(f"{DEMO_BUSES_ENV}={os.environ.get(DEMO_BUSES_ENV)}: give one or more of {', '.join(BUSES)}, comma-separated.")
    return chosen


def api_calls(work: Path) -> dict[str, int]:
    from tests.lab.capture import RequestLog  # pylint: disable=import-outside-toplevel

    log = RequestLog.read(str(work / "requests.jsonl"))
    return {name: len(log.of(name)) for name in COUNTED_CALLS}


def run() -> int:
    started = time.monotonic()
    method = os.environ.get(DEMO_METHOD_ENV) or "worker"
    if method not in METHODS:
        raise SystemExit(f"{DEMO_METHOD_ENV}={method}: give one of {', '.join(METHODS)}.")
    if method == "ebs_direct" and os.environ.get(DEMO_EE_ENV) == "1":
        raise SystemExit(f"{DEMO_EE_ENV}=1 runs the worker method only (the EE reaches its worker over SSH): leave {DEMO_METHOD_ENV} unset.")
    buses = demo_buses()
    disk = pv_image()
    summary: dict[str, Any] = {"source": None, "method": method, "hvm_image_id": None, "boot": {bus: False for bus in buses},
                               "seconds": 0}
    with tempfile.TemporaryDirectory(prefix="pv2hvm-demo-") as temp:
        work = Path(temp)
        with LabEndpoint(data_dir=str(work / "ebs")) as lab:
            ec2 = lab.client()
            say(f"lab EC2 endpoint {lab.url}; registering {disk.name} as a PV AMI and instance")
            # The lab's machine has a data volume at /dev/sdf (fstab: /dev/xvdf); a user's image gets none.
            data = None if os.environ.get(DEMO_IMAGE_ENV) else build_data_disk(work / "data.img")
            pv = register_pv_image(ec2, name="demo-legacy-web", root_snapshot=seed_pv_root(lab, disk), data_volume=data is not None,
                                   data_snapshot=seed_pv_root(lab, data.disk, "data volume") if data else "")
            source = launch(ec2, pv.image_id, name="demo-legacy-web")
            summary["source"] = source
            if method == "ebs_direct":
                worker = ""
                say(f"migrating PV instance {source} (AMI {pv.image_id}) with the EBS direct APIs: this machine converts, no worker")
                rc = migrate(lab, work, source, worker, method)
            else:
                worker = register_lab_worker(lab)
                say(f"migrating PV instance {source} (AMI {pv.image_id}) with worker {worker} = this machine")
                rc = (migrate_in_ee if os.environ.get(DEMO_EE_ENV) == "1" else migrate)(lab, work, source, worker)
            if os.environ.get(DEMO_EE_ENV) != "1":
                summary["api_calls"] = api_calls(work)
            reports = sorted((work / "reports").glob("*.json"))
            report = json.loads(reports[0].read_text(encoding="utf-8")) if reports else {}
            if report:
                say(f"report {reports[0].name}:")
                print(json.dumps(report, indent=2), flush=True)
            if rc == 0 and report.get("status") == "succeeded":
                summary["hvm_image_id"] = report["image"]["image_id"]
                summary["boot"], failures, summary["data_files"] = boot_checks(lab, summary["hvm_image_id"], work)
                if failures:
                    summary["boot_failure"] = failures
                if data:
                    summary["data_volume"] = {"fstab": "/dev/xvdf", "uuid": data.fs_uuid, "files": f"{len(data.files)} {data.digest}"}
            else:
                say(f"the migration failed (ansible-playbook exit code {rc})")
    summary["seconds"] = round(time.monotonic() - started, 1)
    expected = summary.get("data_volume", {}).get("files")
    data_read = not expected or all(files.get(DATA_MOUNTPOINT, {}).get("files") == expected
                                    for files in summary.get("data_files", {}).values())
    passed = all(summary["boot"].values()) and data_read
    if not data_read:
        say(f"the data volume's files were not all read at {DATA_MOUNTPOINT}: expected {expected}, got {summary['data_files']}")
    say("PASS" if passed else "FAIL")
    print(json.dumps(summary), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(run())
