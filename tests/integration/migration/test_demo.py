"""`make demo`, exactly as the README runs it, ends with both boots true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.modules import REPO_ROOT

pytestmark = [pytest.mark.root, pytest.mark.qemu]


def test_demo_migrates_the_pv_instance_and_both_boots_pass() -> None:
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
    assert set(report["resources"]["deleted"]) >= set(report["resources"]["created"]) - {report["image"]["image_id"], *report["image"]["snapshot_ids"]}


def test_demo_refuses_a_missing_user_image(tmp_path: Path) -> None:
    """PV2HVM_DEMO_IMAGE must name a raw PV image; anything else stops before the lab starts."""
    env = dict(os.environ, PV2HVM_DEMO_IMAGE=str(tmp_path / "missing.img"))
    run = subprocess.run([sys.executable, "-m", "tests.lab.demo"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode != 0
    assert "is not a file: give a raw PV root disk image" in run.stderr
