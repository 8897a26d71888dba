# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which guests the roles can convert, decided from the identity os_identity() read (guest_config.py).

A guest the roles have no settings for is refused before anything is written, with the release found
and the reason, never converted half-way with another release's settings (virt-v2v refuses the same
way). Unit-tested in tests/unit/plugins/test_guest_support.py.
"""

from __future__ import annotations

SUPPORTED = ("Debian 6 and later, Ubuntu 10.04 and later, RHEL/CentOS/Rocky/AlmaLinux/Oracle Linux 6 and later, "
             "Fedora 12 and later, Amazon Linux 1, 2 and 2023")
# The oldest release per distribution that has what the conversion relies on: a pvops kernel that
# boots as HVM (Debian 6, Ubuntu 10.04 have them; earlier ones only xenlinux), and dracut or
# initramfs-tools to rebuild the initramfs with the HVM drivers (RHEL 6, Fedora 12 brought dracut;
# before them mkinitrd, which the roles do not drive).
OLDEST = {
    "debian": (6, "Debian 5 and older have only xenlinux kernels, which boot as Xen PV guests only"),
    "ubuntu": (10, "Ubuntu before 10.04 has only -xen/-ec2 kernels, which boot as Xen PV guests only"),
    "fedora": (12, "Fedora before 12 builds its initramfs with mkinitrd, not dracut"),
    "redhat": (6, "RHEL/CentOS 5 and older build the initramfs with mkinitrd (no dracut) and boot Xen-only "
                  "kernel-xen packages"),
}
SUSE_IDS = ("sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse")


def release_name(identity):
    """The release as the guest names it ("CentOS release 5.11 (Final)"), for messages."""
    return identity.get("pretty_name") or " ".join(
        part for part in (identity.get("distribution", ""), identity.get("major_version", "")) if part) or "an unknown OS"


def os_support(identity):
    """Why the roles cannot convert this guest ("" when they can).

    identity: what os_identity() returns. The reason names the release found and what to do.
    """
    name = release_name(identity)
    family = identity.get("family", "")
    distribution = (identity.get("distribution") or "").lower()
    major = identity.get("major_version") or ""
    if distribution in SUSE_IDS or family == "Suse":
        return ("%s is a SUSE guest: the roles have no settings for SUSE's boot loader, initramfs and packages. "
                "Convert it with SUSE's own tools; the roles convert %s." % (name, SUPPORTED))
    if family not in ("Debian", "RedHat", "Amazon"):
        return ("%s is not a guest the roles know (no Debian, Red Hat or Amazon Linux release files were recognised); "
                "the roles convert %s." % (name, SUPPORTED))
    if family == "Amazon":
        return "" if major in ("", "1", "2") or (major.isdigit() and int(major) >= 2022) else (
            "%s is not an Amazon Linux release the roles know (1, 2 or 2023)." % name)
    key = distribution if distribution in OLDEST else ("redhat" if family == "RedHat" else "debian")
    if family == "Debian" and distribution not in ("debian", "ubuntu"):
        return ""  # a Debian derivative: its own version numbers say nothing about Debian's
    oldest, why = OLDEST[key]
    if major.isdigit() and int(major) < oldest:
        return "%s cannot be converted: %s. Upgrade the guest (on the PV source) first; the roles convert %s." % (
            name, why, SUPPORTED)
    return ""


RELEASE_FILE_MARK = "==> "


def release_files(text):
    """The release files a shell printed as "==> <name>" headers each followed by the file's text,
    as {name: text}; a header with no text after it (the file is missing) is left out.

    What the migration's guest preflight reads from a running source with `raw` (its own shell, no Python)."""
    files = {}
    name = None
    for line in (text or "").splitlines():
        if line.startswith(RELEASE_FILE_MARK):
            name = line[len(RELEASE_FILE_MARK):].strip()
            continue
        if name:
            files[name] = files.get(name, "") + line + "\n"
    return {key: value for key, value in files.items() if value.strip()}
