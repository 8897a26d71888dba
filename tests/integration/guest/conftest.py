"""Fixtures for the guest-side integration tests: the lab PV image, copies of it, playbook runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.lab.bootcheck import BUSES, BootResult, boot
from tests.lab.images import PVImage, build_pv_image
from tests.lab.packages import lab_package_vars
from tests.lab.system import leftovers, sha256_file

REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin"


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO_ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run_playbook(playbook: str, extra_vars: dict[str, str], *, check: bool = False, log: Path | None = None,
                 timeout: float = 1500, packages: bool = True, json_vars: dict[str, object] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """ansible-playbook PLAYBOOK -e k=v ... from the repository root; output also written to `log`. With `packages`,
    the pv2hvm_package_* vars point the image's package manager at the lab's mirror (tests/lab/packages.py)."""
    argv = [str(VENV_BIN / "ansible-playbook"), playbook, "--diff"]
    if check:
        argv.append("--check")
    for key, value in extra_vars.items():
        argv += ["-e", f"{key}={value}"]
    if packages and lab_package_vars():
        argv += ["-e", json.dumps(lab_package_vars())]  # the image's GRUB package from the lab's mirror
    if json_vars:
        argv += ["-e", json.dumps(json_vars)]
    process = subprocess.run(argv, cwd=REPO_ROOT, env=ansible_env(), capture_output=True, text=True,
                             timeout=timeout, check=False)
    if log:
        log.write_text(process.stdout + "\n--- stderr ---\n" + process.stderr, encoding="utf-8")
    return process


def convert_image(source: Path, dest: Path, log: Path) -> str:
    """Run convert_image.yml from `source` to `dest`; assert it succeeded without writing the source; its output."""
    before = sha256_file(source)
    process = run_playbook("cloudops.pv2hvm.convert_image",
                           {"pv2hvm_source_image": str(source), "pv2hvm_dest_image": str(dest)}, log=log)
    output = log.read_text(encoding="utf-8")
    assert process.returncode == 0, output[-6000:]
    assert sha256_file(source) == before, "the source image was written"
    return output


def boots_as_hvm(disk: Path, image: PVImage, fs_uuid: str, log_dir: Path, buses: tuple[str, ...] = BUSES) -> dict[str, BootResult]:
    """Boot a converted `image` on `buses` (IDE and NVMe, or NVMe alone where IDE adds nothing to the claim:
    tests/boot_matrix.py) and check what every converted guest must show: the root on the
    bus's first disk, fstab's root by the new UUID, the newest kernel, the root by UUID, the serial console and the
    guest's own argument on the command line, and no PV console. The caller checks what its guest adds."""
    results = {}
    for bus in buses:
        result = boot(disk, bus, log_dir=log_dir / f"boot-{bus}")
        assert result.booted, f"{bus}: {result.reason}\n{result.tail()}"
        probe = result.probe
        assert probe["root"] == ("/dev/nvme0n1p1" if bus == "nvme" else "/dev/sda1"), probe
        assert probe["fstab_root"] == f"UUID={fs_uuid}", probe
        assert probe["kernel"] == image.kernel_version == image.kernel_versions[0], (probe["kernel"], image.kernel_versions)
        cmdline = probe["cmdline"].split()
        assert {f"root=UUID={fs_uuid}", "console=ttyS0,115200n8", "elevator=noop"} <= set(cmdline), cmdline
        assert not [arg for arg in cmdline if arg.startswith(("console=hvc", "console=xvc", "xencons="))], cmdline
        results[bus] = result
    return results


@pytest.fixture(scope="session")
def pv_image() -> PVImage:
    """The lab's bookworm PV image (ext4, root on /dev/xvde1), built once and cached across runs."""
    return build_pv_image()


@pytest.fixture
def pv_copy(pv_image: PVImage, tmp_path: Path) -> Path:
    """A private, writable copy of the PV disk."""
    copy = tmp_path / "pv.img"
    subprocess.run(["cp", "--sparse=always", str(pv_image.disk), str(copy)], check=True)
    return copy


@pytest.fixture(autouse=True)
def no_leftovers(tmp_path: Path) -> Iterator[None]:
    """Every test must leave no loop device on, and no mount under, its temporary directory."""
    yield
    left = leftovers(str(tmp_path))
    assert not left, f"the test left loop devices or mounts behind: {left}"


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("guest")
    yield path
    left = leftovers(str(path))
    shutil.rmtree(path, ignore_errors=True)
    assert not left, f"loop devices or mounts left behind: {left}"
