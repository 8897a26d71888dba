"""The guest's own kernel arguments come from the default entry of its PV menu, PV-only ones dropped."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.guest_config import menu_default_args

TWO_ENTRIES = """default 1
timeout 1
title Old kernel
root (hd0)
kernel /boot/vmlinuz-4.9 root=/dev/xvde1 ro console=hvc0 quiet
title New kernel
root (hd0)
kernel /boot/vmlinuz-4.14 root=/dev/xvde1 ro console=hvc0 xencons=tty net.ifnames=0 biosdevname=0 elevator=noop
initrd /boot/initrd-4.14
"""


def test_the_default_entry_gives_the_arguments() -> None:
    assert menu_default_args(TWO_ENTRIES) == ["net.ifnames=0", "biosdevname=0", "elevator=noop"]


@pytest.mark.parametrize(("menu", "expected"), [
    ("default=0\ntitle RHEL 6\n\tkernel /vmlinuz-2.6.32 root=LABEL=/ selinux=0 console=xvc0 crashkernel=auto\n",
     ["selinux=0", "crashkernel=auto"]),
    ("default saved\ntitle x\nkernel /v ro transparent_hugepage=never\n", ["transparent_hugepage=never"]),
    ("default 7\ntitle only\nkernel /v root=/dev/sda1 rw nvme_core.io_timeout=30 quiet\n", ["quiet"]),
    ("# no entries\ntimeout 5\n", []),
    ("", []),
])
def test_pv_only_and_role_owned_arguments_are_dropped(menu: str, expected: list[str]) -> None:
    assert menu_default_args(menu) == expected
