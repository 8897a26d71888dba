"""Where the image's GRUB package comes from: the image's own mirror (deb.debian.org, the one test of the suite that
still uses it), and a mirror that does not answer (an end-of-life release, a worker without a route).

Every other conversion of the suite takes grub-pc from the lab's mirror on 127.0.0.1 (tests/lab/packages.py)
through `pv2hvm_package_mirror`, so the suite passes without the Debian mirror. This one converts with the image's
own sources.list: when deb.debian.org answers, the image's grub-pc comes from it; when it does not (CI in a network
namespace with only loopback), the conversion must still succeed with the worker's GRUB and say why. Which of the
two applies is decided by asking the mirror directly, and each has its own strict checks.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.guest.conftest import run_playbook
from tests.lab.images import DEFAULT_MIRROR, PVImage
from tests.lab.system import loop_device, mounted

pytestmark = pytest.mark.root

SOURCE_FILES = ("etc/apt/pv2hvm-sources.list", "var/lib/apt/pv2hvm-lists", "usr/sbin/policy-rc.d", "etc/resolv.conf.pv2hvm-saved")


def mirror_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/dists/bookworm/InRelease", timeout=10) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def convert(image: PVImage, dest: Path, log: Path, extra: dict[str, object]) -> str:
    """convert_image.yml with the image's own repositories unless `extra` names another source; its output."""
    process = run_playbook("cloudops.pv2hvm.convert_image", {"pv2hvm_source_image": str(image.disk), "pv2hvm_dest_image": str(dest)},
                           log=log, packages=False, json_vars=extra)
    output = log.read_text(encoding="utf-8")
    assert process.returncode == 0, output[-6000:]
    return output


def unwrapped(output: str) -> str:
    """The log as one line per message: the YAML callback folds long messages and doubles a quote inside quotes."""
    return re.sub(r"\n\s+", " ", output).replace("''", "'")


def check_nothing_left(root: Path) -> None:
    assert not [path for path in SOURCE_FILES if (root / path).exists()], "the package source's files stayed in the image"
    assert "127.0.0.1" not in (root / "etc/apt/sources.list").read_text(encoding="utf-8")


def test_the_images_own_mirror_gives_grub_or_the_worker_does_when_it_does_not_answer(pv_image: PVImage, tmp_path: Path) -> None:
    dest = tmp_path / "hvm.img"
    answers = mirror_answers(DEFAULT_MIRROR)
    output = unwrapped(convert(pv_image, dest, tmp_path / "convert_image.log", {}))
    with loop_device(dest, partitions=True, read_only=True) as device, mounted(f"{device}p1", read_only=True, options="noload") as root:
        check_nothing_left(root)
        installed = "Package: grub-pc\nStatus: install ok installed" in (root / "var/lib/dpkg/status").read_text(encoding="utf-8")
        if answers:
            assert installed and (root / "usr/sbin/grub-install").exists(), output[-3000:]
            assert "GRUB (grub2, packages) in the MBR" in output and "WARNING: grub-pc could not be fetched" not in output
        else:
            assert not installed and "GRUB (grub2, worker) in the MBR" in output, output[-3000:]
            assert "WARNING: grub-pc could not be fetched from the image's own repositories" in output, output[-3000:]
        assert (root / "boot/grub/grub.cfg").is_file() and (root / "boot/grub/i386-pc/normal.mod").is_file()


def test_a_mirror_that_does_not_answer_converts_with_the_workers_grub_and_says_why(pv_image: PVImage, tmp_path: Path) -> None:
    dest = tmp_path / "hvm.img"
    closed = "http://127.0.0.1:9/debian"  # the discard port: nothing listens, the connection is refused at once
    output = convert(pv_image, dest, tmp_path / "convert_image.log",
                     {"pv2hvm_package_mirror": {"Debian": closed}, "pv2hvm_package_proxy": ""})
    warning = re.search(r"WARNING: (grub-pc could not be fetched from mirror \S+ \(bookworm\) \(([^)]*)\))", unwrapped(output))
    assert warning and closed in warning.group(1), output[-3000:]
    assert "127.0.0.1" in warning.group(2) or "refused" in warning.group(2).lower(), warning.group(2)
    assert "GRUB (grub2, worker) in the MBR" in output
    with loop_device(dest, partitions=True, read_only=True) as device, mounted(f"{device}p1", read_only=True, options="noload") as root:
        check_nothing_left(root)
        assert not (root / "usr/sbin/grub-install").exists(), "nothing of the package was installed"
        grub_cfg = (root / "boot/grub/grub.cfg").read_text(encoding="utf-8")
        assert re.search(r"(?m)^\s*linux\s+/boot/vmlinuz-\S+ root=UUID=", grub_cfg), grub_cfg


def test_a_bad_mirror_option_is_refused_by_name_before_anything_is_written(pv_image: PVImage, tmp_path: Path) -> None:
    dest = tmp_path / "hvm.img"
    log = tmp_path / "convert_image.log"
    process = run_playbook("cloudops.pv2hvm.convert_image", {"pv2hvm_source_image": str(pv_image.disk), "pv2hvm_dest_image": str(dest)},
                           log=log, packages=False, json_vars={"pv2hvm_package_mirror": {"Debian": "mirror.internal/debian"}})
    output = log.read_text(encoding="utf-8")
    assert process.returncode != 0 and not dest.exists()
    assert "pv2hvm_package_mirror.Debian must be a repository URL" in output and "'mirror.internal/debian'" in output, output[-3000:]
