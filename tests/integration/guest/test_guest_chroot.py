"""guest_chroot mounts a chroot's filesystems into a guest root in one run, and takes them away again."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.modules import run_module

pytestmark = pytest.mark.root

MOUNTS = [
    {"path": "dev", "src": "/dev", "fstype": "none", "opts": "bind"},
    {"path": "proc", "src": "proc", "fstype": "proc", "opts": "nosuid,nodev,noexec"},
    {"path": "run", "src": "tmpfs", "fstype": "tmpfs", "opts": "nosuid,nodev,mode=0755"},
]


def test_mounts_in_order_is_idempotent_and_unmounts_in_reverse(tmp_path: Path) -> None:
    root = tmp_path / "guest"
    (root / "etc").mkdir(parents=True)
    targets = [str(root / mount["path"]) for mount in MOUNTS]
    try:
        dry = run_module("guest_chroot", {"root": str(root), "mounts": MOUNTS}, check_mode=True)
        assert dry["changed"] and dry["mounted"] == targets and not any(os.path.ismount(t) for t in targets), dry
        done = run_module("guest_chroot", {"root": str(root), "mounts": MOUNTS})
        assert done["changed"] and done["mounted"] == targets, done
        assert all(os.path.ismount(target) for target in targets)
        assert (root / "proc/self/status").exists() and (root / "dev/null").exists()
        again = run_module("guest_chroot", {"root": str(root), "mounts": MOUNTS})
        assert again["changed"] is False and again["mounted"] == [], again

        gone = run_module("guest_chroot", {"root": str(root), "mounts": MOUNTS, "state": "unmounted"})
        assert gone["changed"] and gone["unmounted"] == list(reversed(targets)), gone
        assert not any(os.path.ismount(target) for target in targets)
        assert run_module("guest_chroot", {"root": str(root), "mounts": MOUNTS, "state": "unmounted"})["changed"] is False
    finally:
        for target in reversed(targets):
            if os.path.ismount(target):
                subprocess.run(["umount", "-l", target], check=False)


def test_does_nothing_on_a_live_host_and_refuses_a_missing_root(tmp_path: Path) -> None:
    live = run_module("guest_chroot", {"root": "/", "mounts": MOUNTS})
    assert live["changed"] is False and live["mounted"] == [], live
    missing = run_module("guest_chroot", {"root": str(tmp_path / "absent"), "mounts": MOUNTS})
    assert missing["failed"] and "is not a directory" in missing["msg"], missing
