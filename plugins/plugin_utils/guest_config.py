# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure text logic for a guest's boot configuration: fstab, kernel arguments, OS identity.

Used by the filter plugins of the roles boot_config and grub_install; no I/O here, so every rule is
unit-tested on plain strings.
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import package_source

# Device names a PV guest uses for its disks: Xen (xvd*), the SCSI alias EC2 shows (sd*), old IDE (hd*).
PV_DEVICE_RE = re.compile(r"^/dev/(?:xvd|sd|hd)[a-z]+[0-9]*$")
# Consoles that exist only under Xen PV.
PV_CONSOLE_RE = re.compile(r"^console=(?:hvc|xvc)\d*(?:,.*)?$")
UNRESOLVED_POLICIES = ("nofail", "keep", "comment", "fail")


def fstab_entries(content):
    """The entries of an fstab, in order: dicts with line (0-based), device, mountpoint, fstype, options."""
    entries = []
    for number, line in enumerate(content.splitlines()):
        fields = line.split()
        if not fields or fields[0].startswith("#") or len(fields) < 2:
            continue
        entries.append({
            "line": number, "device": fields[0], "mountpoint": fields[1],
            "fstype": fields[2] if len(fields) > 2 else "", "options": fields[3] if len(fields) > 3 else "defaults",
        })
    return entries


def device_aliases(device):
    """The names the same EC2 disk can have: /dev/sdf <-> /dev/xvdf (and RHEL 6's +4 letter shift is not guessed)."""
    names = [device]
    match = re.match(r"^/dev/(sd|xvd)([a-z]+[0-9]*)$", device)
    if match:
        names.append("/dev/%s%s" % ("xvd" if match.group(1) == "sd" else "sd", match.group(2)))
    return names


def fstab_plan(content, root_id, device_ids=None, unresolved="nofail"):
    """Rewrite an fstab so that no entry depends on a PV device name.

    root_id: "UUID=..." or "LABEL=..." of the new root filesystem; the "/" entry always gets it (the
    copy has a new UUID, so even a UUID= root entry of the source is stale).
    device_ids: {"/dev/xvdf": "UUID=..."} for other entries (sdX/xvdX aliases are tried too).
    unresolved: what to do with a PV device entry that has no id: nofail (keep the name, add the nofail
    option so a missing disk cannot stop the boot), keep, comment (comment the line out), fail.

    Returns {"content", "changes": [{"line", "before", "after"}], "unresolved": [devices]}.
    """
    if unresolved not in UNRESOLVED_POLICIES:
        raise ValueError("unresolved must be one of %s, not %r" % (", ".join(UNRESOLVED_POLICIES), unresolved))
    if not re.match(r"^(UUID|LABEL)=\S+$", root_id or ""):
        raise ValueError("root_id must look like UUID=<uuid> or LABEL=<label>, not %r" % (root_id,))
    # An empty id (blkid found none) is no id: the entry stays unresolved.
    device_ids = {name: value for name, value in (device_ids or {}).items() if value}
    bad = sorted("%s: %r" % (name, value) for name, value in device_ids.items()
                 if not re.match(r"^(UUID|LABEL|PARTUUID)=\S+$", str(value or "")))
    if bad:
        raise ValueError("device ids must look like UUID=<uuid>, LABEL=<label> or PARTUUID=<id>; fix %s "
                         "(boot_config_device_ids / pv2hvm_device_ids)" % ", ".join(bad))
    lines = content.splitlines()
    changes, missing, has_root = [], [], False
    for entry in fstab_entries(content):
        before = lines[entry["line"]]
        after = before
        if entry["mountpoint"] == "/":
            has_root = True
            after = _replace_first_field(before, root_id)
        elif PV_DEVICE_RE.match(entry["device"]):
            known = next((device_ids[name] for name in device_aliases(entry["device"]) if name in device_ids), None)
            if known:
                after = _replace_first_field(before, known)
            else:
                missing.append(entry["device"])
                after = _unresolved_line(before, entry, unresolved)
        if after != before:
            lines[entry["line"]] = after
            changes.append({"line": entry["line"] + 1, "before": before, "after": after})
    if not has_root:
        raise ValueError("the fstab has no entry for '/'; add one before converting")
    new = "\n".join(lines) + ("\n" if content.endswith("\n") or not content else "")
    return {"content": new, "changes": changes, "unresolved": missing}


def data_volume_ids(disks, source_devices, id_type="UUID"):
    """The fstab ids of a source's data volumes, read from their copies on the worker.

    disks: cloudops.pv2hvm.block_device results of the copies; source_devices: the source's device name
    of each (/dev/sdf), in the same order. A filesystem on the whole disk is the source device itself;
    partition N is the device name with N appended (/dev/sdf1), as the PV kernel named it. id_type
    "LABEL" uses the label where there is one. Returns {"/dev/sdf": "UUID=...", "/dev/sdf1": "LABEL=..."};
    a disk or partition without a filesystem id is left out, so fstab_plan treats it as unresolved.
    """
    if id_type not in ("UUID", "LABEL"):
        raise ValueError("id_type must be UUID or LABEL, not %r" % (id_type,))
    disks, source_devices = list(disks or []), list(source_devices or [])
    if len(disks) != len(source_devices):
        raise ValueError("data_volume_ids needs one source device name per disk, got %d disks and %d names"
                         % (len(disks), len(source_devices)))
    ids = {}
    for disk, device in zip(disks, source_devices):
        found = [(device, disk.get("filesystem"))]
        found += [("%s%d" % (device, part["number"]), part.get("filesystem")) for part in disk.get("partitions") or []]
        for name, filesystem in found:
            filesystem = filesystem or {}
            if id_type == "LABEL" and filesystem.get("label"):
                ids[name] = "LABEL=" + filesystem["label"]
            elif filesystem.get("uuid"):
                ids[name] = "UUID=" + filesystem["uuid"]
    return ids


def _replace_first_field(line, value):
    return re.sub(r"^(\s*)\S+", lambda match: match.group(1) + value, line, count=1)


def _unresolved_line(line, entry, policy):
    if policy == "comment":
        return "# pv2hvm: device name not resolvable on HVM: " + line
    if policy == "nofail":
        options = entry["options"].split(",")
        if "nofail" in options:
            return line
        fields = re.split(r"(\s+)", line.strip())
        # fields alternates value, separator, value...; the options are the 4th value.
        while len(fields) < 7:
            fields += ["\t", "defaults" if len(fields) == 6 else entry["fstype"] or "auto"]
        fields[6] = ",".join(options + ["nofail"])
        indent = re.match(r"^\s*", line).group(0)
        return indent + "".join(fields)
    return line


def kernel_args(value, add=None, drop=None):
    """Rewrite a kernel command line: drop every argument whose key is in `drop` or in `add`, then append `add`.

    drop: keys such as "console" or "root" (all values) or whole arguments ("console=hvc0").
    A "root=" with a device name is always dropped: grub and the root-id rules set it.
    """
    add = list(add or [])
    drop = set(drop or [])
    add_keys = {arg.split("=", 1)[0] for arg in add}
    kept = []
    for arg in shlex.split(value or "", posix=False):
        key = arg.split("=", 1)[0]
        if arg in drop or key in drop or key in add_keys or PV_CONSOLE_RE.match(arg):
            continue
        if key == "root" and arg.startswith("root=/dev/"):
            continue
        kept.append(arg)
    result = []
    for arg in kept + add:
        if arg not in result or arg.startswith("console="):
            result.append(arg)
    return " ".join(result)


def menu_lst_hvm(content, root_id, console_args):
    """A PV-GRUB menu.lst with its kernel lines made HVM-safe: root=<root_id>, PV consoles replaced."""
    out = []
    for line in content.splitlines():
        match = re.match(r"^(\s*kernel\s+)(\S+)(.*)$", line)
        if match:
            args = kernel_args(match.group(3).strip(), add=["root=%s" % root_id] + list(console_args), drop=["console", "root"])
            line = "%s%s %s" % (match.group(1), match.group(2), args)
        out.append(line)
    return "\n".join(out) + ("\n" if content.endswith("\n") else "")


# What PV-GRUB's kernel line carries that an HVM boot must not: the root device (replaced by the
# root id), the consoles (the roles set tty0 and ttyS0), the Xen console setting, ro/rw (the boot
# menus add "ro") and the NVMe timeout (set for the default kernel by the roles).
MENU_ARGS_OWNED_BY_THE_ROLES = ("root", "console", "xencons", "ro", "rw", "nvme_core.io_timeout", "nvme.io_timeout")


def menu_default_args(content):
    """The guest's own kernel arguments: those of the default entry of a GRUB legacy menu.lst/grub.conf,
    without the ones the conversion owns (root=, consoles, xencons=, ro/rw, NVMe timeout).

    The default entry is "default N" (counting "title" lines from 0); "default saved" or a number past
    the last entry means the first. A menu without entries gives [].
    """
    default, entries = 0, []
    for line in (content or "").splitlines():
        match = re.match(r"^\s*(\w+)(?:\s*=\s*|\s+)(.*)$", line)
        if not match:
            continue
        keyword, rest = match.group(1), match.group(2).strip()
        if keyword == "default" and not entries:
            default = int(rest) if rest.isdigit() else 0
        elif keyword == "title":
            entries.append(None)
        elif keyword == "kernel" and entries and entries[-1] is None:
            entries[-1] = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    if not entries:
        return []
    args = entries[default] if default < len(entries) and entries[default] is not None else (entries[0] or "")
    return [arg for arg in shlex.split(args, posix=False)
            if arg.split("=", 1)[0] not in MENU_ARGS_OWNED_BY_THE_ROLES]


def parse_os_release(text):
    values = {}
    for line in (text or "").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, raw = line.split("=", 1)
            values[key.strip()] = raw.strip().strip('"').strip("'")
    return values


REDHAT_IDS = ("rhel", "centos", "rocky", "almalinux", "ol", "fedora", "scientific", "cloudlinux")


def os_identity(os_release="", system_release="", redhat_release="", debian_version=""):
    """Which OS family and major version an image holds, from its release files (any may be empty).

    Returns {"family": Debian|RedHat|Amazon|Suse|"", "distribution", "major_version", "pretty_name", "codename"};
    Amazon Linux 1 (VERSION_ID 2018.03 and friends) is major version "1". family is "" for a guest
    none of them matches; guest_support.os_support() then says why it cannot be converted.
    """
    release = parse_os_release(os_release)
    ident = release.get("ID", "").lower()
    like = release.get("ID_LIKE", "").lower().split()
    version = release.get("VERSION_ID", "")
    major = version.split(".")[0] if version else ""
    first_line = (redhat_release or system_release or "").strip().splitlines()[:1]
    pretty = release.get("PRETTY_NAME") or (first_line[0] if first_line else "")

    def found(family, distribution, major_version):
        return {"family": family, "distribution": distribution, "major_version": major_version,
                "pretty_name": pretty or " ".join(part for part in (distribution, major_version) if part),
                # The release's codename (Debian family; "" elsewhere): a package mirror's suite.
                "codename": package_source.debian_codename(os_release, debian_version) if family == "Debian" else ""}

    if ident == "amzn" or "amazon linux" in system_release.lower():
        if not major:
            matched = re.search(r"release\s+(\d+)", system_release)
            major = matched.group(1) if matched else ""
        # Amazon Linux 1 counts in dated releases (2018.03); Amazon Linux 2023's VERSION_ID is "2023".
        if major.isdigit() and int(major) > 2000 and ("." in version or not version):
            major = "1"
        return found("Amazon", "Amazon", major or "1")
    if ident in ("sles", "sled") or ident.startswith("opensuse") or "suse" in like:
        return found("Suse", ident or "suse", major)
    if ident == "debian" or ident == "ubuntu" or "debian" in like:
        if not major and debian_version:
            major = debian_version.strip().split(".")[0]
        return found("Debian", ident.capitalize() if ident != "debian" else "Debian", major)
    if ident in REDHAT_IDS or "rhel" in like or "fedora" in like:
        return found("RedHat", ident, major)
    if redhat_release:
        matched = re.search(r"release\s+(\d+)", redhat_release)
        return found("RedHat", redhat_release.split()[0].lower(), matched.group(1) if matched else "")
    if debian_version and not ident:
        if not pretty:
            pretty = "Debian " + debian_version.strip()
        return found("Debian", "Debian", debian_version.strip().split(".")[0])
    if not pretty:
        pretty = ident or ("an OS without /etc/os-release, /etc/system-release, /etc/redhat-release or "
                           "/etc/debian_version")
    return found("", ident, major)


def shell_var(content, name, default=""):
    """The value of NAME=... in a shell-style config file such as /etc/default/grub (last one wins)."""
    value = default
    for line in (content or "").splitlines():
        match = re.match(r"^\s*(?:export\s+)?%s=(.*)$" % re.escape(name), line)
        if match:
            raw = match.group(1).strip()
            try:
                parts = shlex.split(raw, comments=True)
            except ValueError:
                parts = [raw.strip("\"'")]
            value = " ".join(parts)
    return value


def set_shell_vars(content, values, absent=None):
    """Set NAME="value" lines in a shell-style config file (first occurrence replaced, later ones removed).

    values: {NAME: value}; absent: names whose lines are removed. Other lines are kept as they are.
    """
    absent = set(absent or [])
    pending = dict(values)
    out = []
    for line in (content or "").splitlines():
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", line)
        name = match.group(1) if match else None
        if name in absent:
            continue
        if name in values:
            if name in pending:
                out.append('%s="%s"' % (name, pending.pop(name)))
            continue
        out.append(line)
    out.extend('%s="%s"' % (name, value) for name, value in pending.items())
    return "\n".join(out) + "\n"


def _module_name(path):
    """'kernel/drivers/block/xen-blkfront.ko.xz' -> 'xen_blkfront' (the kernel treats - and _ alike)."""
    base = path.strip().rsplit("/", 1)[-1]
    match = re.match(r"^(.+?)\.ko(?:\.[a-z0-9]+)?$", base)
    return match.group(1).replace("-", "_") if match else None


def module_availability(kernels, module_paths, builtin=None, modules=None):
    """Per kernel and module: "builtin", "module" (a .ko in /lib/modules/<kernel>) or "missing".

    module_paths: paths of .ko files found under <root>/lib/modules; builtin: {kernel: text of
    modules.builtin}; modules: the module names to report (xen-blkfront, nvme, ena, ext4...).
    """
    builtin = builtin or {}
    result = {}
    for kernel in kernels:
        marker = "/lib/modules/%s/" % kernel
        files = {_module_name(path) for path in module_paths if marker in path}
        builtins = {_module_name(line) for line in (builtin.get(kernel) or "").splitlines()}
        per = {}
        for module in modules or []:
            name = module.replace("-", "_")
            per[module] = "builtin" if name in builtins else "module" if name in files else "missing"
        result[kernel] = per
    return result


def initramfs_modules(listing):
    """Module names in an initramfs listing (lsinitramfs or lsinitrd output)."""
    names = set()
    for line in (listing or "").splitlines():
        fields = line.split()
        if fields and ".ko" in fields[-1]:
            name = _module_name(fields[-1])
            if name:
                names.add(name)
    return sorted(names)


def boot_readiness(kernels, availability, initramfs_listings, fstab, root_id, cmdline, io_timeout_arg,
                   pv_only_kernels=None, serial_console="ttyS0", default_kernel=""):
    """The facts the migration needs about a configured image (see the boot_config role's README).

    io_timeout_arg: the NVMe timeout argument the default kernel understands ("" when it has no
    NVMe driver: then no timeout is claimed); default_kernel: the kernel the boot loader boots.

    A driver counts for the initramfs when it is built into the kernel or inside that kernel's
    initramfs; ena counts when the kernel has it at all (it is loaded after the root is mounted).
    """
    per_kernel = {}
    for kernel in kernels:
        inside = set(initramfs_modules(initramfs_listings.get(kernel, "")))
        states = {}
        for module, state in (availability.get(kernel) or {}).items():
            if state == "module" and module != "ena":
                state = "initramfs" if module.replace("-", "_") in inside else "not-in-initramfs"
            states[module] = state
        per_kernel[kernel] = states

    def every(module, good):
        return bool(kernels) and all(per_kernel[k].get(module) in good for k in kernels)

    root_entries = [e for e in fstab_entries(fstab or "") if e["mountpoint"] == "/"]
    fstab_root = root_entries[0]["device"] if root_entries else ""
    args = (cmdline or "").split()
    ready = {
        "kernels": list(kernels),
        "default_kernel": default_kernel or "",
        "io_timeout_arg": io_timeout_arg or "",
        "pv_only_kernels": list(pv_only_kernels or []),
        "per_kernel": per_kernel,
        "nvme_in_initramfs": every("nvme", ("builtin", "initramfs")),
        "xen_blkfront": every("xen-blkfront", ("builtin", "initramfs")),
        "ena_module": every("ena", ("builtin", "module")),
        "fstab_root": fstab_root,
        "fstab_by_uuid": fstab_root == root_id and bool(re.match(r"^(UUID|LABEL)=", fstab_root)),
        "io_timeout": bool(io_timeout_arg) and io_timeout_arg in args,
        "serial_console": any(a == "console=%s" % serial_console or a.startswith("console=%s," % serial_console) for a in args),
    }
    ready["xen_hvm_ready"] = ready["xen_blkfront"] and ready["fstab_by_uuid"] and ready["serial_console"]
    ready["nitro_ready"] = (ready["nvme_in_initramfs"] and ready["ena_module"] and ready["fstab_by_uuid"]
                            and ready["io_timeout"])
    return ready
