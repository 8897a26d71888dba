"""The content manifest: equal trees compare equal, and each kind of difference is reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import manifest


def make_tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/fstab").write_text("/dev/xvde1 / ext4 defaults 0 1\n")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(b"\x7fELF" + bytes(5000))
    os.link(root / "bin/busybox", root / "bin/sh")
    (root / "bin/other").write_bytes(b"other")
    os.symlink("busybox", root / "bin/ls")
    os.setxattr(root / "etc/fstab", "user.note", b"keep")
    (root / "var/lib/pv2hvm").mkdir(parents=True)
    (root / "var/lib/pv2hvm/clone.json").write_text("{}")


@pytest.fixture
def trees(tmp_path: Path):
    source, copy = tmp_path / "source", tmp_path / "copy"
    make_tree(source)
    make_tree(copy)
    return source, copy


def test_equal_trees_and_byte_counting(trees) -> None:
    source, copy = trees
    counted = []
    wanted = manifest.build(str(source), on_bytes=counted.append)
    assert manifest.differences(wanted, manifest.build(str(copy))) == (0, [])
    assert sum(counted) == len("/dev/xvde1 / ext4 defaults 0 1\n") + 5004 * 2 + 5 + 2
    assert wanted["bin/sh"]["hard_link_group"] == wanted["bin/busybox"]["hard_link_group"] == "bin/busybox"
    assert wanted["bin/ls"]["target"] == "busybox"
    assert set(wanted["etc/fstab"]["xattrs"]) == {"user.note"}


def _content(copy: Path) -> None:
    (copy / "bin/other").write_bytes(b"OTHER")


def _mode(copy: Path) -> None:
    os.chmod(copy / "etc/fstab", 0o600)


def _symlink(copy: Path) -> None:
    os.unlink(copy / "bin/ls")
    os.symlink("sh", copy / "bin/ls")


def _xattr(copy: Path) -> None:
    os.setxattr(copy / "etc/fstab", "user.note", b"changed")


def _hard_link(copy: Path) -> None:
    os.unlink(copy / "bin/sh")
    shutil.copy(copy / "bin/busybox", copy / "bin/sh")


def _missing(copy: Path) -> None:
    os.unlink(copy / "bin/other")


def _extra(copy: Path) -> None:
    (copy / "etc/extra").write_text("x")


def _type(copy: Path) -> None:
    os.unlink(copy / "bin/other")
    (copy / "bin/other").mkdir()


@pytest.mark.parametrize("change, path, words", [
    (_content, "bin/other", "sha256"),
    (_mode, "etc/fstab", "mode '0o644' -> '0o600'"),
    (_symlink, "bin/ls", "target 'busybox' -> 'sh'"),
    (_xattr, "etc/fstab", "xattrs"),
    (_hard_link, "bin/sh", "hard_link_group 'bin/busybox' -> None"),
    (_missing, "bin/other", "missing from the copy"),
    (_extra, "etc/extra", "only in the copy"),
    (_type, "bin/other", "type 'file' -> 'directory'"),
])
def test_each_difference_is_reported(trees, change: Callable[[Path], None], path: str, words: str) -> None:
    source, copy = trees
    change(copy)
    count, lines = manifest.differences(manifest.build(str(source)), manifest.build(str(copy)))
    assert count >= 1
    assert any(line.startswith(f"{path}: ") and words in line for line in lines), lines


def test_owner_difference_is_reported(trees) -> None:
    source, copy = trees
    wanted = manifest.build(str(source))
    found = manifest.build(str(copy))
    owner = f"{os.getuid()}:{os.getgid()}"
    assert wanted["etc/fstab"]["owner"] == owner
    found["etc/fstab"]["owner"] = "4242:4242"  # chown needs root; unit tests do not
    assert manifest.differences(wanted, found) == (1, [f"etc/fstab: owner {owner!r} -> '4242:4242'"])


def test_excluded_subtree_and_limit(trees) -> None:
    source, copy = trees
    (copy / "var/lib/pv2hvm/clone.json").write_text('{"different": true}')
    wanted = manifest.build(str(source), exclude=["var/lib/pv2hvm"])
    assert "var/lib/pv2hvm" not in wanted and "var/lib" in wanted
    assert manifest.differences(wanted, manifest.build(str(copy), exclude=["/var/lib/pv2hvm/"]))[0] == 0
    for number in range(10):
        (copy / f"extra{number}").touch()
    count, lines = manifest.differences(wanted, manifest.build(str(copy), exclude=["var/lib/pv2hvm"]), limit=3)
    assert count == 10 and len(lines) == 3


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9")
    (tmp_path / name).write_text("x")
    found = manifest.build(str(tmp_path))
    assert manifest.printable(name) == "caf\\xe9"
    assert manifest.differences({}, found) == (2, [".: only in the copy", "caf\\xe9: only in the copy"])
