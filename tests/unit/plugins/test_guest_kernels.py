"""The kernels of an image, decided as virt-v2v decides them (plugins/plugin_utils/guest_kernels.py)."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import guest_kernels as gk

# Build configurations, cut to the lines that matter, as the kernels' /boot/config-<version> have them.
XENLINUX_XENU = """\
# Linux kernel version: 2.6.18-xenU
CONFIG_X86_32=y
CONFIG_X86_XEN=y
CONFIG_XEN=y
# CONFIG_XEN_PRIVILEGED_GUEST is not set
CONFIG_XEN_UNPRIVILEGED_GUEST=y
CONFIG_XEN_BLKDEV_FRONTEND=y
"""
DEBIAN5_XEN = """\
CONFIG_64BIT=y
CONFIG_X86_64=y
CONFIG_X86_64_XEN=y
CONFIG_XEN=y
CONFIG_XEN_BLKDEV_FRONTEND=m
"""
# Debian 6 squeeze's pvops kernel: CONFIG_XEN but no CONFIG_X86(_64)_XEN; it boots as HVM.
DEBIAN6_PVOPS = """\
CONFIG_64BIT=y
CONFIG_X86_64=y
CONFIG_PARAVIRT_GUEST=y
CONFIG_XEN=y
CONFIG_XEN_PVHVM=y
CONFIG_XEN_BLKDEV_FRONTEND=m
# CONFIG_BLK_DEV_NVME is not set
"""
# Debian 12 bookworm's cloud kernel (6.1.0-*-cloud-amd64): also a Xen PV guest kernel, but pvops.
BOOKWORM_CLOUD = """\
CONFIG_X86_64=y
CONFIG_HYPERVISOR_GUEST=y
CONFIG_XEN=y
CONFIG_XEN_PV=y
CONFIG_XEN_PVHVM=y
CONFIG_XEN_BLKDEV_FRONTEND=m
CONFIG_NVME_CORE=y
CONFIG_BLK_DEV_NVME=y
"""

# Real `modinfo -F parm` output. Debian 12's nvme_core, built into 6.1.0-50-cloud-amd64 (read from
# modules.builtin.modinfo by kmod 30):
MODINFO_BOOKWORM_NVME_CORE = """\
multipath:turn on native support for multiple controllers per subsystem (bool)
iopolicy:Default multipath I/O policy; 'numa' (default) or 'round-robin'
admin_timeout:timeout in seconds for admin commands (uint)
io_timeout:timeout in seconds for I/O (uint)
shutdown_timeout:timeout in seconds for controller shutdown (byte)
max_retries:max number of retries a command may have (byte)
default_ps_max_latency_us:max power saving latency for new devices; use PM QOS to change per device (ulong)
force_apst:allow APST for newly enumerated devices even if quirked off (bool)
"""
# Debian 12's nvme: its parameters, no io_timeout (that lives in nvme_core since Linux 4.5).
MODINFO_BOOKWORM_NVME = """\
use_threaded_interrupts: (int)
use_cmb_sqes:use controller's memory buffer for I/O SQes (bool)
io_queue_depth:set io queue depth, should >= 2 and < 4096
noacpi:disable acpi bios quirks (bool)
"""
# CentOS 7.2's nvme.ko (3.10.0-327.el7.x86_64, before nvme_core existed), whole `modinfo nvme`
# output; the timeouts are bytes, and parameters without a description show a bare type.
MODINFO_CENTOS72_NVME = """\
filename:       /lib/modules/3.10.0-327.el7.x86_64/kernel/drivers/block/nvme.ko
version:        1.0
license:        GPL
rhelversion:    7.2
depends:
vermagic:       3.10.0-327.el7.x86_64 SMP mod_unload modversions
parm:           admin_timeout:timeout in seconds for admin commands (byte)
parm:           io_timeout:timeout in seconds for I/O (byte)
parm:           shutdown_timeout:timeout in seconds for controller shutdown (byte)
parm:           nvme_major:int
parm:           nvme_char_major:int
parm:           use_threaded_interrupts:int
"""
# Ubuntu 15.10's nvme.ko (4.2.0-16-generic), `-F parm`.
MODINFO_UBUNTU42_NVME = """\
admin_timeout:timeout in seconds for admin commands (byte)
io_timeout:timeout in seconds for I/O (byte)
shutdown_timeout:timeout in seconds for controller shutdown (byte)
nvme_major:int
nvme_char_major:int
use_threaded_interrupts:int
"""
# A 4.5-4.14 nvme_core (drivers/nvme/host/core.c: `unsigned char nvme_io_timeout`, `byte`), as kmod prints it.
MODINFO_49_NVME_CORE = """\
admin_timeout:timeout in seconds for admin commands (byte)
io_timeout:timeout in seconds for I/O (byte)
shutdown_timeout:timeout in seconds for controller shutdown (byte)
max_retries:max number of retries a command may have (byte)
default_ps_max_latency_us:max power saving latency for new devices; use PM QOS to change per device (ulong)
"""
# module-init-tools (RHEL 6) prints no type.
MODINFO_MIT_NVME = "admin_timeout:timeout in seconds for admin commands\nio_timeout:timeout in seconds for I/O\n"


@pytest.mark.parametrize("version, config, reason", [
    ("2.6.18-xenU", XENLINUX_XENU, "CONFIG_X86_XEN=y in /boot/config-2.6.18-xenU"),
    ("2.6.26-2-xen-amd64", DEBIAN5_XEN, "CONFIG_X86_64_XEN=y in /boot/config-2.6.26-2-xen-amd64"),
    ("2.6.32-5-xen-amd64", DEBIAN6_PVOPS, ""),
    ("6.1.0-50-cloud-amd64", BOOKWORM_CLOUD, ""),
    # The configuration decides, not the name: a PV-only-looking name with a pvops build boots as HVM.
    ("2.6.32-312-ec2", DEBIAN6_PVOPS, ""),
    ("6.1.0-70-cloud-amd64", "CONFIG_X86_64_XEN=y\n", "CONFIG_X86_64_XEN=y in /boot/config-6.1.0-70-cloud-amd64"),
    # 32-bit: Debian's 686 flavour has no PAE and boots only as Xen PV; 686-pae boots as HVM.
    ("4.19.0-27-686", "CONFIG_X86_32=y\n# CONFIG_X86_PAE is not set\nCONFIG_XEN=y\n",
     "a 32-bit kernel without PAE (CONFIG_X86_32=y, no CONFIG_X86_PAE=y in /boot/config-4.19.0-27-686)"),
    ("4.19.0-27-686-pae", "CONFIG_X86_32=y\nCONFIG_X86_PAE=y\nCONFIG_XEN=y\n", ""),
])
def test_pv_only_from_the_build_configuration(version: str, config: str, reason: str) -> None:
    assert gk.pv_only_reason(version, config) == reason


@pytest.mark.parametrize("version, pv_only", [
    ("2.6.18-xenU", True),
    ("2.6.18-398.el5xen", True),          # RHEL/CentOS 5 kernel-xen
    ("2.6.16.60-0.21-xenpae", True),      # SLES 10
    ("3.0.101-63-xen", True),             # SLES 11
    ("2.6.32-312-ec2", True),             # Ubuntu 10.04
    ("2.6.26-2-xen-amd64", True),         # Debian 5: xenlinux
    ("2.6.32-5-xen-amd64", False),        # Debian 6: pvops, boots HVM
    ("2.6.18-398.el5", False),
    ("6.1.0-50-cloud-amd64", False),
])
def test_pv_only_from_the_name_only_without_a_configuration(version: str, pv_only: bool) -> None:
    reason = gk.pv_only_reason(version, None)
    assert bool(reason) is pv_only
    assert not reason or "no /boot/config-%s" % version in reason


@pytest.mark.parametrize("version, debug", [
    ("4.18.0-80.el8.x86_64+debug", True),
    ("3.10.0-1160.el7.x86_64.debug", True),
    ("3.0.101-63-debug", True),
    ("2.6.18-398.el5debug", True),
    ("6.1.0-60-cloud-amd64-debug", True),
    ("6.1.0-50-cloud-amd64", False),
    ("4.14.181-108.257.amzn1.x86_64", False),
    ("5.4.0-1045-aws", False),
])
def test_debug_builds(version: str, debug: bool) -> None:
    assert gk.is_debug(version) is debug


def test_modinfo_parms_reads_every_format() -> None:
    assert gk.modinfo_parms(MODINFO_BOOKWORM_NVME_CORE)["io_timeout"] == "uint"
    assert gk.modinfo_parms(MODINFO_BOOKWORM_NVME_CORE)["iopolicy"] == ""
    parms = gk.modinfo_parms(MODINFO_CENTOS72_NVME)
    assert parms == {"admin_timeout": "byte", "io_timeout": "byte", "shutdown_timeout": "byte", "nvme_major": "int",
                     "nvme_char_major": "int", "use_threaded_interrupts": "int"}, "only the parm: lines count"
    assert gk.modinfo_parms(MODINFO_MIT_NVME) == {"admin_timeout": "", "io_timeout": ""}
    assert gk.modinfo_parms("") == {} and gk.modinfo_parms(None) == {}


@pytest.mark.parametrize("version, modinfo, builtin, config, expected", [
    # >= 4.5, uint: Debian 12, nvme built in (the lab image's kernel).
    ("6.1.0-50-cloud-amd64", {"nvme_core": MODINFO_BOOKWORM_NVME_CORE, "nvme": MODINFO_BOOKWORM_NVME},
     "kernel/drivers/nvme/host/nvme-core.ko\nkernel/drivers/nvme/host/nvme.ko\n", BOOKWORM_CLOUD,
     {"driver": "builtin", "param": "nvme_core.io_timeout", "type": "uint", "max": 4294967295}),
    # < 4.5: one module, nvme, with a byte.
    ("3.10.0-327.el7.x86_64", {"nvme_core": None, "nvme": MODINFO_CENTOS72_NVME}, "", None,
     {"driver": "module", "param": "nvme.io_timeout", "type": "byte", "max": 254}),
    ("4.2.0-16-generic", {"nvme_core": "", "nvme": MODINFO_UBUNTU42_NVME}, "", None,
     {"driver": "module", "param": "nvme.io_timeout", "type": "byte", "max": 254}),
    # 4.5-4.14: nvme_core, still a byte.
    ("4.9.0-8-amd64", {"nvme_core": MODINFO_49_NVME_CORE, "nvme": MODINFO_BOOKWORM_NVME}, "", None,
     {"driver": "module", "param": "nvme_core.io_timeout", "type": "byte", "max": 254}),
    # A vendor backport: modinfo wins over the version rule (Amazon Linux 1's 4.14 has a uint).
    ("4.14.33-51.37.amzn1.x86_64", {"nvme_core": MODINFO_BOOKWORM_NVME_CORE}, "", None,
     {"driver": "module", "param": "nvme_core.io_timeout", "type": "uint", "max": 4294967295}),
    # module-init-tools shows no type: the version decides it (2.6.32 < 4.15: byte).
    ("2.6.32-754.el6.x86_64", {"nvme": MODINFO_MIT_NVME}, "", None,
     {"driver": "module", "param": "nvme.io_timeout", "type": "byte", "max": 254}),
    # Built in, and no modules.builtin.modinfo for modinfo to read: name and type by version.
    ("4.19.0-5-amd64", {}, "kernel/drivers/nvme/host/nvme-core.ko\n", "CONFIG_BLK_DEV_NVME=y\n",
     {"driver": "builtin", "param": "nvme_core.io_timeout", "type": "uint", "max": 4294967295}),
    ("4.4.0-21-generic", {}, "kernel/drivers/nvme/host/nvme.ko\n", None,
     {"driver": "builtin", "param": "nvme.io_timeout", "type": "byte", "max": 254}),
    # No NVMe driver at all (Debian 6): no parameter, so nothing is claimed.
    ("2.6.32-5-xen-amd64", {"nvme_core": None, "nvme": None}, "", DEBIAN6_PVOPS,
     {"driver": "missing", "param": "", "type": "", "max": 0}),
])
def test_nvme_io_timeout_parameter_per_kernel(version, modinfo, builtin, config, expected) -> None:
    found = gk.nvme_io_timeout(version, modinfo, builtin, config)
    assert {key: found[key] for key in expected} == expected, found


@pytest.mark.parametrize("version, config, cap", [
    # Debian's i386 kernel (the lab's i386 guest): HZ=250, so 8589934 s keeps io_timeout * HZ below 2**31.
    ("6.1.0-28-686-pae", "CONFIG_X86_32=y\nCONFIG_X86_PAE=y\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n", 8589934),
    # No configuration: the name tells 32 bits, the unknown HZ is taken as 1000.
    ("2.6.32-754.el6.i686", None, 2147483),
    ("3.11.10-301.fc20.i686+PAE", None, 2147483),
    # 64-bit kernels hold the full uint.
    ("6.1.0-50-cloud-amd64", BOOKWORM_CLOUD, None),
    ("2.6.32-754.el6.x86_64", None, None),
])
def test_32_bit_kernels_cap_the_timeout_where_jiffies_would_wrap(version: str, config: str | None, cap: int | None) -> None:
    assert gk.jiffies_cap(version, config) == cap
    nvme = gk.nvme_io_timeout(version, {"nvme_core": MODINFO_BOOKWORM_NVME_CORE}, "", config)
    assert nvme["max"] == (cap or 4294967295), nvme
    if cap:
        assert gk.io_timeout_arg(nvme) == f"nvme_core.io_timeout={cap}"
        assert "32-bit jiffies" in nvme["source"], nvme


def test_io_timeout_argument_is_capped_and_renamed() -> None:
    uint = {"param": "nvme_core.io_timeout", "max": 4294967295}
    byte = {"param": "nvme.io_timeout", "max": 254}
    assert gk.io_timeout_arg(uint) == "nvme_core.io_timeout=4294967295"
    assert gk.io_timeout_arg(byte, 4294967295) == "nvme.io_timeout=254"
    assert gk.io_timeout_arg(byte, 60) == "nvme.io_timeout=60"
    assert gk.io_timeout_arg({"param": "", "max": 0}) == "" and gk.io_timeout_arg(None) == ""
    line = "console=tty0 console=ttyS0,115200n8 nvme_core.io_timeout=4294967295"
    assert gk.fit_io_timeout(line, byte) == "console=tty0 console=ttyS0,115200n8 nvme.io_timeout=254"
    assert gk.fit_io_timeout(line, uint) == line
    assert gk.fit_io_timeout(line, {"param": "", "max": 0}) == "console=tty0 console=ttyS0,115200n8"
    assert gk.fit_io_timeout("ro quiet", uint) == "ro quiet", "no timeout is added where none was asked for"


def inventory(**extra):
    versions = ["6.1.0-9-cloud-amd64", "6.1.0-50-cloud-amd64", "6.1.0-10-cloud-amd64", "6.1.0-70-cloud-amd64",
                "6.1.0-60-cloud-amd64-debug", "0-rescue-0123456789abcdef"]
    args = {
        "module_dirs": ["/mnt/root/lib/modules/" + v for v in versions if not v.startswith("0-rescue")],
        "configs": {"6.1.0-70-cloud-amd64": "CONFIG_X86_64_XEN=y\n", "6.1.0-50-cloud-amd64": BOOKWORM_CLOUD},
        "boot_files": ["vmlinuz-" + v for v in versions] + ["initrd.img-6.1.0-50-cloud-amd64", "initramfs-0-rescue-0123456789abcdef.img"],
        "modinfo": {"6.1.0-50-cloud-amd64/nvme_core": MODINFO_BOOKWORM_NVME_CORE},
        "builtins": {},
    }
    args.update(extra)
    return gk.kernel_inventory(versions, **args)


def test_default_is_the_newest_kernel_neither_pv_only_nor_debug() -> None:
    found = inventory()
    assert found["order"] == ["6.1.0-70-cloud-amd64", "6.1.0-60-cloud-amd64-debug", "6.1.0-50-cloud-amd64",
                              "6.1.0-10-cloud-amd64", "6.1.0-9-cloud-amd64", "0-rescue-0123456789abcdef"]
    assert found["default"] == "6.1.0-50-cloud-amd64"
    assert found["pv_only"] == ["6.1.0-70-cloud-amd64"] and found["debug"] == ["6.1.0-60-cloud-amd64-debug"]
    assert found["bootable"] == ["6.1.0-60-cloud-amd64-debug", "6.1.0-50-cloud-amd64", "6.1.0-10-cloud-amd64",
                                 "6.1.0-9-cloud-amd64"], "PV-only and kernels without a module tree are not in the menu"
    chosen = found["kernels"]["6.1.0-50-cloud-amd64"]
    assert chosen["rank"] == 3 and chosen["initramfs"] == "/boot/initrd.img-6.1.0-50-cloud-amd64"
    assert chosen["config"] == "/boot/config-6.1.0-50-cloud-amd64" and chosen["modules"] and chosen["bootable"]
    assert chosen["nvme"]["param"] == "nvme_core.io_timeout" and chosen["nvme"]["source"] == "modinfo nvme_core"
    rescue = found["kernels"]["0-rescue-0123456789abcdef"]
    assert rescue["initramfs"] == "/boot/initramfs-0-rescue-0123456789abcdef.img" and not rescue["bootable"]


def test_only_debug_kernels_left_then_the_newest_debug_one_boots() -> None:
    found = gk.kernel_inventory(["4.18.0-80.el8.x86_64+debug", "4.18.0-80.el8.x86_64", "2.6.18-398.el5xen"],
                                module_dirs=["4.18.0-80.el8.x86_64+debug", "2.6.18-398.el5xen"])
    assert found["default"] == "4.18.0-80.el8.x86_64+debug"
    assert found["pv_only"] == ["2.6.18-398.el5xen"]


def test_only_pv_only_kernels_means_no_default() -> None:
    found = gk.kernel_inventory(["2.6.18-398.el5xen", "2.6.18-xenU"], module_dirs=["2.6.18-398.el5xen", "2.6.18-xenU"],
                                configs={"2.6.18-xenU": XENLINUX_XENU})
    assert found["default"] == "" and found["bootable"] == []
    assert found["pv_only"] == ["2.6.18-xenU", "2.6.18-398.el5xen"], "dpkg: letters sort after digits"
    assert found["kernels"]["2.6.18-xenU"]["pv_only_reason"] == "CONFIG_X86_XEN=y in /boot/config-2.6.18-xenU"
    assert gk.kernel_inventory([])["default"] == ""
