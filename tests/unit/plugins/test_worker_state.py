"""Finding a crashed migration's mounts on the worker (plugins/plugin_utils/worker_state.py)."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.worker_state import mounts_under

MOUNTS = """/dev/root / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
/dev/loop3p1 /mnt/pv2hvm/pv2hvm-i-0abc ext4 rw 0 0
/dev/loop5p1 /mnt/pv2hvm/pv2hvm-i-0abcdef xfs rw 0 0
proc /mnt/pv2hvm/pv2hvm-i-0abc/proc proc rw 0 0
sysfs /mnt/pv2hvm/pv2hvm-i-0abc/sys sysfs rw 0 0
udev /mnt/pv2hvm/pv2hvm-i-0abc/dev devtmpfs rw 0 0
devpts /mnt/pv2hvm/pv2hvm-i-0abc/dev/pts devpts rw 0 0
/dev/loop7 /mnt/with\\040space ext4 rw 0 0
"""


def test_the_migrations_mounts_deepest_last_mounted_first() -> None:
    found = mounts_under(MOUNTS, "/mnt/pv2hvm/pv2hvm-i-0abc/")
    assert [m["target"] for m in found] == [
        "/mnt/pv2hvm/pv2hvm-i-0abc/dev/pts", "/mnt/pv2hvm/pv2hvm-i-0abc/dev", "/mnt/pv2hvm/pv2hvm-i-0abc/sys",
        "/mnt/pv2hvm/pv2hvm-i-0abc/proc", "/mnt/pv2hvm/pv2hvm-i-0abc"]
    assert found[-1] == {"source": "/dev/loop3p1", "target": "/mnt/pv2hvm/pv2hvm-i-0abc", "fstype": "ext4"}


def test_another_migration_with_a_longer_id_is_not_taken() -> None:
    assert [m["source"] for m in mounts_under(MOUNTS, "/mnt/pv2hvm/pv2hvm-i-0abcdef")] == ["/dev/loop5p1"]
    assert mounts_under(MOUNTS, "/mnt/pv2hvm/pv2hvm-i-0ab") == []


def test_escaped_names_and_bad_input() -> None:
    assert mounts_under(MOUNTS, "/mnt/with space")[0]["source"] == "/dev/loop7"
    assert mounts_under("", "/mnt") == []
    with pytest.raises(ValueError, match="absolute path"):
        mounts_under(MOUNTS, "mnt/pv2hvm")
