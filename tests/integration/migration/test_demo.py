"""`make demo`, exactly as the README runs it, ends with both boots true."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.images import PVImageSpec, build_pv_image
from tests.support.modules import REPO_ROOT

pytestmark = [pytest.mark.root, pytest.mark.qemu]


def test_demo_migrates_the_pv_instance_and_both_boots_pass() -> None:
    """The lab's default machine: a data volume mounted from /dev/xvdf, a root that fills its volume."""
    run = subprocess.run([sys.executable, "-m", "tests.lab.demo"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False)
    lines = run.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert summary["boot"] == {"ide": True, "nvme": True}
    assert summary["source"].startswith("i-") and summary["hvm_image_id"].startswith("ami-")
    assert "==> PASS" in lines
    assert any(line.startswith("==> boot on nvme: PASS") and "root=/dev/nvme0n1p1" in line for line in lines), lines[-10:]
    report = json.loads(run.stdout[run.stdout.index("{", run.stdout.index("==> report")):run.stdout.index("==> boot on ide")])
    assert report["status"] == "succeeded" and report["image"]["image_id"] == summary["hvm_image_id"]
    assert report["source"]["virtualization_type"] == "paravirtual"
    assert report["readiness"]["nitro_ready"] is True and report["image"]["ena_support"] is True
    # Like a kept-up-to-date machine it has two kernels: both get the HVM drivers, the newest boots.
    machine = build_pv_image()
    assert len(machine.kernel_versions) == 2 and sorted(report["readiness"]["kernels"]) == sorted(machine.kernel_versions), report["readiness"]
    assert report["readiness"]["default_kernel"] == machine.kernel_version, report["readiness"]
    booted = [line for line in lines if re.match(r"==> boot on (ide|nvme): PASS", line)]
    assert len(booted) == 2 and all(f"kernel={machine.kernel_version}" in line.split() for line in booted), booted
    assert set(report["resources"]["deleted"]) >= set(report["resources"]["created"]) - {report["image"]["image_id"], *report["image"]["snapshot_ids"]}
    # The lab's PV machine mounts a data volume from /dev/xvdf (no nofail): on HVM its fstab names the
    # filesystem by the UUID read from a copy of the data snapshot, and both boots read its files.
    data = summary["data_volume"]
    assert summary["data_files"]["nvme"]["/srv/appdata"] == {"device": "/dev/nvme1n1", "files": data["files"]}, summary
    # On IDE the kernel names the two disks in the order their probes finish: sda/sdb may swap from one
    # boot to the next (why fstab names filesystems by UUID). The data disk is the one without the root.
    ide_root = re.search(r"^==> boot on ide: PASS .*\broot=(/dev/sd[a-z])1\b", run.stdout, re.MULTILINE)
    assert ide_root, lines[-10:]
    ide_data = summary["data_files"]["ide"]["/srv/appdata"]
    assert re.fullmatch(r"/dev/sd[a-z]", ide_data["device"]) and ide_data["device"] != ide_root.group(1), summary
    assert ide_data["files"] == data["files"], summary
    changed = {change["before"]: change["after"] for change in report["fstab"]["changes"]}
    assert changed["/dev/xvdf\t/srv/appdata\text4\tdefaults\t0\t2"] == f"UUID={data['uuid']}\t/srv/appdata\text4\tdefaults\t0\t2"
    assert report["fstab"]["data_volume_ids"] == {"/dev/sdf": f"UUID={data['uuid']}"}
    assert report["fstab"]["unresolved"] == ["/dev/xvdb"], "only the instance-store disk is left to nofail"
    # Its network configuration names eth0 (ifupdown): the kernel keeps that name on Nitro.
    assert report["network"]["kernel_interface_names"] == {"eth0": ["/etc/network/interfaces"]}, report["network"]
    assert report["network"]["kernel_args"] == ["net.ifnames=0", "biosdevname=0"], report["network"]


def run_demo(**env: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    run = subprocess.run([sys.executable, "-m", "tests.lab.demo"], cwd=REPO_ROOT, env=dict(os.environ, **env),
                         capture_output=True, text=True, timeout=1800, check=False)
    return run, json.loads(run.stdout.strip().splitlines()[-1])


def test_demo_with_a_users_own_image_passes_its_boot() -> None:
    """A PV image the lab code was not written against: xfs on /dev/sda1, a 1 GiB volume 90 % full, no payload;
    through the workerless method (the worker method migrates and boots such roots in test_fleet.py). NVMe
    only: IDE adds nothing to this claim (tests/boot_matrix.py)."""
    method = "ebs_direct"
    image = build_pv_image(PVImageSpec(fstype="xfs", root_device="/dev/sda1", size_mib=1024, fill_percent=90))
    run, summary = run_demo(PV2HVM_DEMO_IMAGE=str(image.disk), PV2HVM_DEMO_METHOD=method, PV2HVM_DEMO_BUSES="nvme")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert summary["boot"] == {"nvme": True} and "boot_failure" not in summary, summary
    assert summary["method"] == method and (summary["api_calls"]["CreateVolume"] == 0) == (method == "ebs_direct"), summary
    assert any(line.startswith("==> boot on nvme: PASS") and "root=/dev/nvme0n1p1" in line and "fstype=xfs" in line
               for line in run.stdout.splitlines()), run.stdout[-3000:]


def test_demo_with_the_ebs_direct_method_creates_no_volume_and_its_boot_passes() -> None:
    """The workerless method on the lab's default machine (a data volume, a root that fills its volume); NVMe
    only (tests/boot_matrix.py)."""
    run, summary = run_demo(PV2HVM_DEMO_METHOD="ebs_direct", PV2HVM_DEMO_BUSES="nvme")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert summary["method"] == "ebs_direct" and summary["boot"] == {"nvme": True}, summary
    calls = summary["api_calls"]
    assert calls["CreateVolume"] == 0 and calls["AttachVolume"] == 0, calls
    assert calls["RunInstances"] == 1, "only the test instance: no worker"
    assert calls["CompleteSnapshot"] == 1 and calls["PutSnapshotBlock"] > 0, calls
    report = json.loads(run.stdout[run.stdout.index("{", run.stdout.index("==> report")):run.stdout.index("==> boot on nvme")])
    assert report["method"] == "ebs_direct" and report["transfer"]["volumes_staged"] == 0, report
    download, upload = report["transfer"]["download"], report["transfer"]["upload"]
    assert download["blocks_downloaded"] == download["blocks_listed"] > 0, download
    assert upload["blocks_uploaded"] == upload["blocks_this_run"] and upload["snapshot_id"] in report["image"]["snapshot_ids"], upload
    # The data volume's id came from the first MiBs of its snapshot: its files are read on Nitro.
    data = summary["data_volume"]
    assert report["fstab"]["data_volume_ids"] == {"/dev/sdf": f"UUID={data['uuid']}"}, report["fstab"]
    assert summary["data_files"]["nvme"]["/srv/appdata"] == {"device": "/dev/nvme1n1", "files": data["files"]}, summary


def test_demo_of_a_broken_conversion_fails_both_boots_with_a_reason() -> None:
    run, summary = run_demo(PV2HVM_DEMO_FAULT="zero-mbr")
    assert run.returncode != 0
    assert summary["hvm_image_id"].startswith("ami-")
    assert summary["boot"] == {"ide": False, "nvme": False}, summary
    assert set(summary["boot_failure"]) == {"ide", "nvme"}, summary
    assert all("no bootable device: " in reason for reason in summary["boot_failure"].values()), summary
    assert "==> FAIL" in run.stdout


def test_demo_refuses_a_missing_user_image(tmp_path: Path) -> None:
    """PV2HVM_DEMO_IMAGE must name a raw PV image; anything else stops before the lab starts."""
    env = dict(os.environ, PV2HVM_DEMO_IMAGE=str(tmp_path / "missing.img"))
    run = subprocess.run([sys.executable, "-m", "tests.lab.demo"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode != 0
    assert "is not a file: give a raw PV root disk image" in run.stderr
