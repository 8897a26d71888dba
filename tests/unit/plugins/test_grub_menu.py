"""Which kernel a GRUB configuration boots by default (plugins/plugin_utils/grub_menu.py)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.grub_menu import default_kernel

UUID = "5ce718b0-8c1f-4463-b237-af52b5b3dbee"

# The shape of Debian 12's grub-mkconfig output (00_header, 10_linux), cut to what decides the default;
# written with 4-space indents (one long line folded with a backslash), put back to grub-mkconfig's tabs.
DEBIAN_GRUB_CFG = """\
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="%(default)s"
fi

if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  fi
}
### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-%(uuid)s' {
    load_video
    insmod ext2
    search --no-floppy --fs-uuid --set=root %(uuid)s
    echo 'Loading Linux 6.1.0-70-cloud-amd64 ...'
    linux /boot/vmlinuz-6.1.0-70-cloud-amd64 root=UUID=%(uuid)s ro console=ttyS0,115200n8
    initrd /boot/initrd.img-6.1.0-70-cloud-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-%(uuid)s' {
    menuentry 'Debian GNU/Linux, with Linux 6.1.0-70-cloud-amd64' --class debian \
$menuentry_id_option 'gnulinux-6.1.0-70-cloud-amd64-advanced-%(uuid)s' {
        linux /boot/vmlinuz-6.1.0-70-cloud-amd64 root=UUID=%(uuid)s ro console=ttyS0,115200n8
    }
    menuentry 'Debian GNU/Linux, with Linux 6.1.0-70-cloud-amd64 (recovery mode)' --class debian \
$menuentry_id_option 'gnulinux-6.1.0-70-cloud-amd64-recovery-%(uuid)s' {
        linux /boot/vmlinuz-6.1.0-70-cloud-amd64 root=UUID=%(uuid)s ro single
    }
    menuentry 'Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-50-cloud-amd64-advanced-%(uuid)s' {
        linux /boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=%(uuid)s ro console=ttyS0,115200n8
    }
    menuentry 'Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64 (recovery mode)' --class debian \
$menuentry_id_option 'gnulinux-6.1.0-50-cloud-amd64-recovery-%(uuid)s' {
        linux /boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=%(uuid)s ro single
    }
}
### END /etc/grub.d/10_linux ###
"""


def debian_cfg(default: str) -> str:
    text = re.sub(r"(?m)^((?:    )+)", lambda match: "\t" * (len(match.group(1)) // 4), DEBIAN_GRUB_CFG)
    return text % {"default": default, "uuid": UUID}


@pytest.mark.parametrize("default, kernel", [
    ("0", "6.1.0-70-cloud-amd64"),
    (f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-50-cloud-amd64-advanced-{UUID}", "6.1.0-50-cloud-amd64"),
    ("1>2", "6.1.0-50-cloud-amd64"),
    ("Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64", "6.1.0-50-cloud-amd64"),
    ("1", "6.1.0-70-cloud-amd64"),  # a submenu boots its first entry
    (f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-9-cloud-amd64-advanced-{UUID}", ""),  # no such entry
    ("7", ""),
])
def test_grub2_default_entry(default: str, kernel: str) -> None:
    assert default_kernel(debian_cfg(default)) == kernel


def test_grub2_saved_entry_comes_from_grubenv() -> None:
    cfg = debian_cfg("${saved_entry}")
    env = "# GRUB Environment Block\nsaved_entry=gnulinux-6.1.0-50-cloud-amd64-advanced-%s\n" % UUID
    assert default_kernel(cfg, "# GRUB Environment Block\n") == "6.1.0-70-cloud-amd64", "no saved entry: the first"
    assert default_kernel(cfg, env) == "", "GRUB needs the submenu's id first"
    assert default_kernel(cfg, env.replace("saved_entry=", f"saved_entry=gnulinux-advanced-{UUID}>")) == "6.1.0-50-cloud-amd64"


def test_the_menu_the_role_writes() -> None:
    cfg = (
        "set default=1\nset timeout=1\nsearch --no-floppy --fs-uuid --set=root %s\n\n"
        "menuentry 'Debian 12, kernel 6.1.0-60-cloud-amd64-debug' {\n\tlinux /boot/vmlinuz-6.1.0-60-cloud-amd64-debug root=UUID=%s ro\n}\n\n"
        "menuentry 'Debian 12, kernel 6.1.0-50-cloud-amd64' {\n\tlinux /boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=%s ro\n"
        "\tinitrd /boot/initrd.img-6.1.0-50-cloud-amd64\n}\n" % (UUID, UUID, UUID))
    assert default_kernel(cfg) == "6.1.0-50-cloud-amd64"


@pytest.mark.parametrize("default, kernel", [("default=1", "2.6.32-696.el6.x86_64"), ("default 0", "2.6.32-754.el6.x86_64"),
                                             ("", "2.6.32-754.el6.x86_64"), ("default=5", "")])
def test_grub_legacy_default(default: str, kernel: str) -> None:
    conf = (
        f"{default}\ntimeout=1\nserial --unit=0 --speed=115200\n\n"
        "title CentOS 6 (2.6.32-754.el6.x86_64)\n\troot (hd0,0)\n\tkernel /boot/vmlinuz-2.6.32-754.el6.x86_64 root=UUID=x ro\n"
        "\tinitrd /boot/initramfs-2.6.32-754.el6.x86_64.img\n"
        "title CentOS 6 (2.6.32-696.el6.x86_64)\n\troot (hd0,0)\n\tkernel /vmlinuz-2.6.32-696.el6.x86_64 root=UUID=x ro\n")
    assert default_kernel(conf) == kernel


def test_boot_loader_spec_entries_cannot_be_told() -> None:
    assert default_kernel("set default=\"${saved_entry}\"\ninsmod blscfg\nblscfg\n") == ""
