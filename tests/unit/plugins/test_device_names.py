"""EBS device-name translation (pure functions)."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import device_names


def test_nvme_serial_and_back() -> None:
    assert device_names.nvme_serial("vol-0123456789abcdef0") == "vol0123456789abcdef0"
    assert device_names.nvme_serial("vol-1a2b3c4d") == "vol1a2b3c4d"
    assert device_names.volume_id_from_serial("vol0123456789abcdef0   ") == "vol-0123456789abcdef0"
    assert device_names.nvme_by_id_name("vol-0123456789abcdef0") == \
        "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"


@pytest.mark.parametrize("bad", ["vol0123456789abcdef0", "vol-0123", "vol-0123456789ABCDEF0", "i-0123456789abcdef0", ""])
def test_rejects_what_is_not_a_volume_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not an EBS volume id"):
        device_names.nvme_serial(bad)


@pytest.mark.parametrize("bad", ["vol-0123456789abcdef0", "nvme0", "vol0123"])
def test_rejects_what_is_not_a_serial(bad: str) -> None:
    with pytest.raises(ValueError, match="not an EBS NVMe serial"):
        device_names.volume_id_from_serial(bad)


@pytest.mark.parametrize("name, shifted, expected", [
    ("/dev/sdf", False, ["xvdf", "sdf"]),
    ("sdf", False, ["xvdf", "sdf"]),
    ("/dev/xvdg", False, ["xvdg"]),
    ("/dev/sda1", False, ["xvda1", "sda1"]),
    ("/dev/sdf", True, ["xvdj"]),
    ("/dev/sda1", True, ["xvde1"]),
    ("/dev/xvdf", True, ["xvdj"]),
    ("/dev/sdv", True, ["xvdz"]),
    ("/dev/sdw", True, []),  # past z: a RHEL 6 kernel has no name for it
    ("/dev/xvdba", False, ["xvdba"]),
    ("/dev/xvdba", True, []),
])
def test_xen_names(name: str, shifted: bool, expected: list) -> None:
    assert device_names.xen_device_names(name, shifted=shifted) == expected


@pytest.mark.parametrize("bad", ["/dev/hda", "/dev/nvme1n1", "/dev/sdF", "sd", "/dev/sdabc"])
def test_rejects_what_is_not_a_device_name(bad: str) -> None:
    with pytest.raises(ValueError, match="not an EBS device name"):
        device_names.xen_device_names(bad)
