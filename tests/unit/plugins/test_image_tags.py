"""The readiness a migration keeps on its AMI survives the round trip through a tag value."""

from __future__ import annotations

import re

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.image_tags import readiness_from_tag, readiness_tag

NITRO = {"nvme_in_initramfs": True, "ena_module": True, "xen_hvm_ready": True, "nitro_ready": True, "kernels": ["6.1.0-18-amd64"]}
XEN_ONLY = {"nvme_in_initramfs": True, "ena_module": False, "xen_hvm_ready": True, "nitro_ready": False}
NOTHING = {"nvme_in_initramfs": False, "ena_module": False, "xen_hvm_ready": False, "nitro_ready": False}


@pytest.mark.parametrize("readiness", [NITRO, XEN_ONLY, NOTHING], ids=["nitro", "xen-only", "nothing"])
def test_round_trip(readiness: dict) -> None:
    value = readiness_tag(readiness)
    # Only characters every AWS service accepts in a tag value, and within EC2's 256.
    assert re.fullmatch(r"[A-Za-z0-9 +\-=._:/@]{1,256}", value), value
    assert readiness_from_tag(value) == {key: readiness[key] for key in ("nvme_in_initramfs", "ena_module", "xen_hvm_ready", "nitro_ready")}


def test_values() -> None:
    assert readiness_tag(XEN_ONLY) == "nvme_in_initramfs xen_hvm_ready"
    assert readiness_tag(NOTHING) == "none"


def test_a_missing_tag_reads_as_not_ready() -> None:
    assert readiness_from_tag("") == readiness_from_tag(None) == {key: False for key in NOTHING}


def test_incomplete_readiness_is_refused() -> None:
    with pytest.raises(ValueError, match="readiness lacks ena_module, nitro_ready"):
        readiness_tag({"nvme_in_initramfs": True, "xen_hvm_ready": True})
