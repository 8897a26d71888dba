"""guest_info reads a guest root in one pass: release files, initramfs tools, kernels, and paths asked for."""

from __future__ import annotations

from pathlib import Path

from tests.support.modules import run_module

VERSION = "6.1.0-50-cloud-amd64"


def _guest(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n', encoding="utf-8")
    (root / "etc/debian_version").write_text("12.8\n", encoding="utf-8")
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/mkinitramfs").write_text("#!/bin/sh\n", encoding="utf-8")
    boot = root / "boot"
    boot.mkdir()
    for name in (f"vmlinuz-{VERSION}", f"initrd.img-{VERSION}", f"config-{VERSION}", f"vmlinuz-{VERSION}.dpkg-bak",
                 "vmlinuz-5.10.0-9-amd64.bak"):
        (boot / name).write_text("CONFIG_X86_64=y\n" if name.startswith("config") else "x", encoding="utf-8")
    (boot / "vmlinuz-link").symlink_to(f"vmlinuz-{VERSION}")  # not a regular file: not a kernel
    modules = root / "lib/modules" / VERSION
    modules.mkdir(parents=True)
    (modules / "modules.builtin").write_text("kernel/drivers/nvme/host/nvme-core.ko\n", encoding="utf-8")
    (root / "lib/modules/stray-file").write_text("", encoding="utf-8")
    return root


def test_reads_release_files_tools_and_kernels_of_the_guest_not_of_this_machine(tmp_path: Path) -> None:
    root = _guest(tmp_path / "guest")
    result = run_module("guest_info", {"root": str(root) + "/", "paths": ["/usr/sbin/mkinitramfs", "etc/missing"]})
    assert result.rc == 0 and result["changed"] is False, result
    assert result["has_etc"] is True
    assert result["release"] == {"os-release": 'ID=debian\nVERSION_ID="12"\n', "debian_version": "12.8\n"}
    assert result["initramfs_tools"] == ["/usr/sbin/mkinitramfs"]
    assert result["boot_files"] == [f"initrd.img-{VERSION}", f"vmlinuz-{VERSION}"]
    assert result["versions"] == [VERSION]
    assert result["module_dirs"] == [f"{root}/lib/modules/{VERSION}"]
    assert result["configs"] == {VERSION: "CONFIG_X86_64=y\n"}
    assert result["builtins"] == {VERSION: "kernel/drivers/nvme/host/nvme-core.ko\n"}
    # No such module tree for modinfo: the parameters are empty, not an error.
    assert result["nvme_params"] == {f"{VERSION}/nvme_core": "", f"{VERSION}/nvme": ""}
    assert result["exists"] == {"/usr/sbin/mkinitramfs": True, "etc/missing": False}


def test_gathers_only_what_is_asked_and_sees_a_root_without_etc(tmp_path: Path) -> None:
    result = run_module("guest_info", {"root": str(tmp_path), "gather": ["release"]}, check_mode=True)
    assert result.rc == 0 and result["has_etc"] is False and result["release"] == {}, result
    assert "versions" not in result and result["exists"] == {}
    nothing = run_module("guest_info", {"root": str(tmp_path), "gather": []})
    assert "release" not in nothing and "versions" not in nothing, nothing


def test_refuses_an_unknown_gather_choice(tmp_path: Path) -> None:
    result = run_module("guest_info", {"root": str(tmp_path), "gather": ["kernel"]})
    assert result["failed"] and "gather" in result["msg"] and "kernels" in result["msg"], result
