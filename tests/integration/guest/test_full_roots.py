"""Nearly full PV roots that fill their volume (every real PV AMI) convert with no size set, and boot.

Each image is a 1 GiB filesystem (a whole 1 GiB EBS volume) filled to 95 % or 99 % with application
data. convert_image.yml sizes the HVM image from the source: partition table + filesystem + the
headroom the conversion needs (GRUB package, new initramfs, backups); a fixed size that is too small is
refused before anything is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.guest.conftest import convert_image, run_playbook
from tests.lab import bootcheck
from tests.lab.images import PVImage, PVImageSpec, build_pv_image

pytestmark = [pytest.mark.root, pytest.mark.qemu]

GIB = 1024 ** 3
# (fstype, fill %, partitioned): whole-disk roots. A partitioned one whose partition fills the volume
# migrates and boots in tests/integration/migration/test_fleet.py.
CASES = [("ext4", 95, False), ("ext4", 99, False), ("xfs", 95, False), ("xfs", 99, False)]


def full_image(fstype: str, fill: int, partitioned: bool = False) -> PVImage:
    return build_pv_image(PVImageSpec(fstype=fstype, size_mib=1024, fill_percent=fill, root_device="/dev/sda1",
                                      kernel_args="transparent_hugepage=never", partitioned=partitioned))


@pytest.mark.parametrize(("fstype", "fill", "partitioned"), CASES,
                         ids=[f"{fstype}-{fill}{'-partitioned' if part else ''}" for fstype, fill, part in CASES])
def test_full_root_converts_with_no_size_set_and_boots(fstype: str, fill: int, partitioned: bool, tmp_path: Path) -> None:
    image = full_image(fstype, fill, partitioned)
    assert image.disk.stat().st_size == GIB, "the filesystem must fill its 1 GiB volume"
    dest = tmp_path / "hvm.img"
    output = convert_image(image.disk, dest, tmp_path / "convert_image.log")
    plan = re.search(r"Destination (\d+) bytes: the (\d+)-byte root filesystem", output)
    assert plan, output[-3000:]
    assert int(plan.group(2)) <= GIB < int(plan.group(1)) == dest.stat().st_size
    # NVMe: the root filesystem's kind and fullness do not depend on the bus (tests/boot_matrix.py).
    for bus in ("nvme",):
        result = bootcheck.boot(dest, bus, log_dir=tmp_path / f"boot-{bus}")
        assert result.booted, f"{result.reason}\n{result.tail()}"
        assert result.probe["fstype"] == fstype and result.probe["fstab_root"].startswith("UUID="), result.probe
        assert result.probe["root"] == ("/dev/sda1" if bus == "ide" else "/dev/nvme0n1p1"), result.probe
        assert "transparent_hugepage=never" in result.probe["cmdline"].split(), result.probe


def test_too_small_fixed_size_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    image = full_image("ext4", 99)
    dest = tmp_path / "hvm.img"
    log = tmp_path / "convert_image.log"
    process = run_playbook("cloudops.pv2hvm.convert_image",
                           {"pv2hvm_source_image": str(image.disk), "pv2hvm_dest_image": str(dest),
                            "pv2hvm_dest_size": "1G"}, log=log)
    output = log.read_text(encoding="utf-8")
    assert process.returncode != 0
    assert "pv2hvm_dest_size=1G (1073741824 bytes) is too small" in output, output[-3000:]
    assert "Raise pv2hvm_dest_size to at least" in output and "Nothing was written" in output
    assert "before anything was written" in output
    assert not dest.exists()


def test_space_plan_counts_the_grub_package_and_each_initramfs(tmp_path: Path) -> None:
    """conversion_space on the source itself (read-only): what the plan above is made of."""
    image = full_image("xfs", 99)
    log = tmp_path / "space.log"
    playbook = tmp_path / "space.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [
            {"name": "Attach", "ansible.builtin.command": {"argv": ["losetup", "--find", "--show", "--read-only", str(image.disk)]},
             "register": "loop"},
            {"block": [
                {"name": "Plan", "cloudops.pv2hvm.conversion_space": {"device": "{{ loop.stdout }}"}, "register": "plan"},
                {"name": "Keep", "ansible.builtin.copy": {"content": "{{ plan | to_json }}", "dest": str(tmp_path / "plan.json"),
                                                          "mode": "0644"}},
                {"name": "Refuse", "cloudops.pv2hvm.conversion_space": {"device": "{{ loop.stdout }}", "required": True},
                 "register": "refused", "ignore_errors": True},
                {"name": "Show refusal", "ansible.builtin.debug": {"msg": "REFUSED {{ refused.msg }}"}},
            ], "always": [{"name": "Detach", "ansible.builtin.command": {"argv": ["losetup", "--detach", "{{ loop.stdout }}"]}}]},
        ],
    }]), encoding="utf-8")
    process = run_playbook(str(playbook), {}, log=log)
    output = log.read_text(encoding="utf-8")
    assert process.returncode == 0, output[-4000:]
    plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert plan["changed"] is False and plan["has_grub"] is False
    assert sorted(kernel["version"] for kernel in plan["kernels"]) == sorted(image.kernel_versions), "one new initramfs per kernel"
    assert all(kernel["initramfs_bytes"] > 0 for kernel in plan["kernels"])
    assert plan["breakdown"]["initramfs_bytes"] >= sum(kernel["initramfs_bytes"] for kernel in plan["kernels"])
    assert plan["breakdown"]["grub_bytes"] > 0 and plan["breakdown"]["reserve_bytes"] == 100 * 1024 * 1024
    assert plan["free_bytes"] < plan["headroom_bytes"], "a 99 % full 1 GiB root has less free than the conversion needs"
    assert plan["destination_bytes"] >= plan["filesystem_bytes"] + 1024 * 1024 + plan["headroom_bytes"]
    assert "Raise pv2hvm_destination_size to at least" in output and "short" in output
