# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernels of a guest image, decided the way virt-v2v decides them (libguestfs linux_kernels.ml).

For each /boot/vmlinuz-<version>: its place in version order (versions.py), Xen-PV-only from its
build configuration, debug, its module tree, its initramfs and the NVMe I/O timeout parameter it
understands; then the boot default: the newest kernel that is neither PV-only nor debug. The data
comes from the role tasks (guest_target/tasks/kernels.yml) as file names and texts; no I/O here.
Unit-tested in tests/unit/plugins/test_guest_kernels.py.
"""

from __future__ import annotations

import re

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.guest_config import initramfs_modules
from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.versions import release_series, sort_versions

# Build options of a xenlinux (non-pvops) kernel, which boots only as a Xen PV guest (virt-v2v).
PV_ONLY_OPTIONS = ("CONFIG_X86_XEN", "CONFIG_X86_64_XEN")
# Without a build configuration, names of PV-only kernel flavours: RHEL/CentOS 5 and Fedora "xen",
# SLES "-xen"/"-xenpae", old Amazon and Fedora "-xenU", Ubuntu 10.04 "-ec2".
PV_ONLY_NAME_RE = re.compile(r"(?:xen(?:U|pae)?|-ec2)$")
# Debian's "-xen-<arch>" flavour is xenlinux up to Debian 5 (2.6.26) and pvops from Debian 6
# (2.6.32-5-xen-amd64), which boots as HVM.
DEBIAN_XEN_FLAVOUR_RE = re.compile(r"-xen-[a-z0-9]+$")
DEBIAN_PVOPS_XEN = (2, 6, 32)
# Debug builds: RHEL 7+ "+debug", RHEL 6/7 ".debug", SUSE "-debug", RHEL 5 "el5debug", "-dbg".
DEBUG_RE = re.compile(r"(?:[.+_-]|el\d+)(?:debug|dbg)$")
# initramfs names, by distribution: Debian/Ubuntu, dracut (RHEL 6+, Amazon), RHEL 5 mkinitrd, SUSE.
INITRAMFS_NAMES = ("initrd.img-{version}", "initramfs-{version}.img", "initrd-{version}.img", "initrd-{version}")

# NVMe I/O timeout: the parameter lives in nvme_core from Linux 4.5 (before: nvme), and is a uint
# from Linux 4.15 (before: a byte). modinfo tells the truth for vendor kernels; the version rule is
# the fallback when modinfo cannot say (built-in driver without modules.builtin.modinfo).
NVME_CORE_SINCE = (4, 5)
NVME_TIMEOUT_UINT_SINCE = (4, 15)
# The largest value to use per parameter type: AWS recommends the maximum; for a byte, 254.
IO_TIMEOUT_MAX = {"byte": 254, "ushort": 65535, "short": 32767, "int": 2147483647, "uint": 4294967295,
                  "long": 4294967295, "ulong": 4294967295, "ullong": 4294967295}
IO_TIMEOUT_KEYS = ("nvme_core.io_timeout", "nvme.io_timeout")
# A 32-bit kernel keeps jiffies in a 32-bit long and compares them signed (time_after): the driver's
# timeout of io_timeout * HZ jiffies must stay below 2**31, or each request's deadline wraps into the
# past and every I/O times out at once (aborts, resets, EIO: the root goes read-only). Without a
# CONFIG_HZ, the largest HZ (1000) keeps the cap safe.
JIFFIES_32_MAX = 2 ** 31 - 1
HZ_UNKNOWN = 1000
BITS_32_NAME_RE = re.compile(r"(?:[-.+](?:i[3-6]86|486|586|686(?:-pae|-bigmem)?|pae|PAE))$")
NVME_MODULES = ("nvme_core", "nvme")


def config_options(text):
    """{"CONFIG_X": "y"|"m"|value} of a kernel build configuration ("# ... is not set" lines are absent)."""
    options = {}
    for line in (text or "").splitlines():
        match = re.match(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$", line.strip())
        if match:
            options[match.group(1)] = match.group(2).strip('"')
    return options


def pv_only_reason(version, config=None):
    """Why a kernel boots only as a Xen PV guest ("" when it can boot as HVM).

    config: the text of /boot/config-<version>, or None when the image has none; only then does the
    kernel's name decide.
    """
    if config is not None:
        options = config_options(config)
        found = [name for name in PV_ONLY_OPTIONS if options.get(name) in ("y", "m")]
        if found:
            return "%s=%s in /boot/config-%s" % (found[0], options[found[0]], version)
        # A 32-bit kernel without PAE runs as a Xen PV guest only: EC2's HVM needs PAE (NX) from it.
        if options.get("CONFIG_X86_32") == "y" and options.get("CONFIG_X86_PAE") != "y":
            return "a 32-bit kernel without PAE (CONFIG_X86_32=y, no CONFIG_X86_PAE=y in /boot/config-%s)" % version
        return ""
    if PV_ONLY_NAME_RE.search(version):
        return "the name %s (a Xen-PV-only flavour; no /boot/config-%s)" % (version, version)
    if DEBIAN_XEN_FLAVOUR_RE.search(version) and release_series(version) < DEBIAN_PVOPS_XEN:
        return "the name %s (Debian's xenlinux flavour before 2.6.32; no /boot/config-%s)" % (version, version)
    return ""


def is_debug(version):
    """True for a debug build of a kernel (never the boot default while another kernel can boot)."""
    return bool(DEBUG_RE.search(version))


def initramfs_for(version, boot_files):
    """The /boot path of the kernel's initramfs among the names in /boot, or ""."""
    names = {name.rsplit("/", 1)[-1] for name in boot_files or []}
    for pattern in INITRAMFS_NAMES:
        name = pattern.format(version=version)
        if name in names:
            return "/boot/" + name
    return ""


def modinfo_parms(text):
    """{parameter: type} from `modinfo -F parm` output.

    kmod prints "io_timeout:timeout in seconds for I/O (uint)", or "nvme_major:int" for a parameter
    without a description; the whole `modinfo` output ("parm:   io_timeout:...") is read too. The
    type is "" when modinfo shows none (module-init-tools, or a parameter with its own ops).
    """
    lines = [line.strip() for line in (text or "").splitlines()]
    if any(line.startswith("parm:") for line in lines):
        lines = [re.sub(r"^parm:\s*", "", line) for line in lines if line.startswith("parm:")]
    types = "|".join(IO_TIMEOUT_MAX)
    parms = {}
    for line in lines:
        match = re.match(r"^([A-Za-z0-9_]+):(.*)$", line)
        if not match:
            continue
        rest = match.group(2).strip()
        kind = re.search(r"\((%s)\)$" % types, rest) or re.match(r"^(%s)$" % types, rest)
        parms[match.group(1)] = kind.group(1) if kind else ""
    return parms


def nvme_io_timeout(version, modinfo=None, builtin="", config=None):
    """Which NVMe I/O timeout parameter a kernel has, and of which type.

    modinfo: {"nvme_core": output of `modinfo -k <version> -F parm nvme_core`, "nvme": ...}, None
    for a module modinfo did not find. builtin: the text of modules.builtin; config: of
    /boot/config-<version> (None when missing).

    Returns {"driver": "module"|"builtin"|"missing", "param", "type", "max", "source"}; param is ""
    when the kernel has no NVMe driver, so that no setting is claimed that the kernel ignores.
    """
    modinfo = modinfo or {}
    cap = jiffies_cap(version, config)
    for module in NVME_MODULES:
        parms = modinfo_parms(modinfo.get(module))
        if "io_timeout" in parms:
            kind = parms["io_timeout"] or _type_by_version(version)
            return _timeout(_driver(modinfo, builtin, config), module + ".io_timeout", kind,
                            "modinfo %s" % module + ("" if parms["io_timeout"] else " (type by version)"), cap)
    driver = _driver(modinfo, builtin, config)
    if driver == "missing":
        return {"driver": "missing", "param": "", "type": "", "max": 0, "source": "no NVMe driver"}
    module = "nvme_core" if release_series(version) >= NVME_CORE_SINCE else "nvme"
    return _timeout(driver, module + ".io_timeout", _type_by_version(version), "kernel version", cap)


def jiffies_cap(version, config=None):
    """The largest I/O timeout in seconds a kernel's timers hold: None on a 64-bit kernel, else
    (2**31 - 1) // HZ (a 32-bit kernel: CONFIG_X86_32=y, or by its name without a configuration)."""
    options = config_options(config)
    if config is not None:
        bits_32 = options.get("CONFIG_X86_32") == "y" or (options.get("CONFIG_X86_64") != "y" and options.get("CONFIG_64BIT") != "y"
                                                          and bool(BITS_32_NAME_RE.search(version)))
    else:
        bits_32 = bool(BITS_32_NAME_RE.search(version))
    if not bits_32:
        return None
    hz = options.get("CONFIG_HZ", "")
    return JIFFIES_32_MAX // (int(hz) if hz.isdigit() and int(hz) > 0 else HZ_UNKNOWN)


def _driver(modinfo, builtin, config):
    names = set(initramfs_modules(builtin))  # modules.builtin lists .ko paths, as an initramfs listing does
    options = config_options(config)
    if any(name in names for name in NVME_MODULES) or options.get("CONFIG_BLK_DEV_NVME") == "y":
        return "builtin"
    if any(modinfo.get(name) for name in NVME_MODULES) or options.get("CONFIG_BLK_DEV_NVME") == "m":
        return "module"
    return "missing"


def _type_by_version(version):
    return "uint" if release_series(version) >= NVME_TIMEOUT_UINT_SINCE else "byte"


def _timeout(driver, param, kind, source, cap=None):
    largest = IO_TIMEOUT_MAX.get(kind, IO_TIMEOUT_MAX["byte"])
    if cap is not None and cap < largest:
        return {"driver": driver, "param": param, "type": kind, "max": cap, "source": source + ", 32-bit jiffies"}
    return {"driver": driver, "param": param, "type": kind, "max": largest, "source": source}


def io_timeout_arg(nvme, requested=4294967295):
    """The kernel argument for an NVMe I/O timeout of `requested` seconds, capped at what the
    parameter holds ("nvme.io_timeout=254" on a byte); "" when the kernel has no NVMe driver."""
    if not nvme or not nvme.get("param"):
        return ""
    return "%s=%d" % (nvme["param"], min(int(requested), int(nvme["max"])))


def fit_io_timeout(cmdline, nvme):
    """A kernel command line whose NVMe I/O timeout argument (either name) is made right for the kernel."""
    args = (cmdline or "").split()
    values = [arg.split("=", 1)[1] for arg in args if arg.split("=", 1)[0] in IO_TIMEOUT_KEYS and "=" in arg]
    kept = [arg for arg in args if arg.split("=", 1)[0] not in IO_TIMEOUT_KEYS]
    if values and values[-1].isdigit():
        new = io_timeout_arg(nvme, int(values[-1]))
        kept += [new] if new else []
    return " ".join(kept)


def kernel_inventory(versions, module_dirs=None, configs=None, boot_files=None, modinfo=None, builtins=None):
    """Every kernel of an image, newest first, and the one to boot by default.

    versions: the <version> of each /boot/vmlinuz-<version>; module_dirs: names (or paths) of the
    directories in /lib/modules; configs: {version: text of /boot/config-<version>} (a kernel
    without one is absent); boot_files: names in /boot; modinfo: {"<version>/<module>": output of
    `modinfo -k <version> -F parm <module>`, "" when it found none} for nvme_core and nvme;
    builtins: {version: text of modules.builtin}.

    Returns {"kernels": {version: {...}}, "order": newest first, "bootable", "pv_only", "debug",
    "default"}. A kernel is bootable as HVM when it is not PV-only and has a module tree; the
    default is the newest bootable non-debug kernel, else the newest bootable one, else "".
    """
    configs = configs or {}
    modinfo = modinfo or {}
    builtins = builtins or {}
    trees = {str(path).rstrip("/").rsplit("/", 1)[-1] for path in module_dirs or []}
    order = sort_versions(set(versions or []))
    kernels = {}
    for rank, version in enumerate(order, start=1):
        reason = pv_only_reason(version, configs.get(version))
        kernels[version] = {
            "version": version,
            "rank": rank,
            "vmlinuz": "/boot/vmlinuz-" + version,
            "config": "/boot/config-" + version if version in configs else "",
            "pv_only": bool(reason),
            "pv_only_reason": reason,
            "debug": is_debug(version),
            "modules": version in trees,
            "initramfs": initramfs_for(version, boot_files),
            "bootable": not reason and version in trees,
            "nvme": nvme_io_timeout(version, {module: modinfo.get("%s/%s" % (version, module)) for module in NVME_MODULES},
                                    builtins.get(version, ""), configs.get(version)),
        }
    bootable = [v for v in order if kernels[v]["bootable"]]
    preferred = [v for v in bootable if not kernels[v]["debug"]] or bootable
    return {
        "kernels": kernels,
        "order": order,
        "bootable": bootable,
        "pv_only": [v for v in order if kernels[v]["pv_only"]],
        "debug": [v for v in order if kernels[v]["debug"]],
        "default": preferred[0] if preferred else "",
    }
