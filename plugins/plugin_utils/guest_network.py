# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest's network interface names, as its configuration uses them, and its stale udev rules.

Xen's netfront device is eth0. On Nitro the ENA device gets a predictable name (ens5) from systemd's
udev unless the kernel is told `net.ifnames=0 biosdevname=0`; a configuration written for eth0 then
never applies and the instance has no network. A 70-persistent-net.rules entry bound to the PV
instance's MAC address makes the new device eth1 on older udev. The role tasks
(boot_config/tasks/network.yml) read the files; no I/O here. Unit-tested in
tests/unit/plugins/test_guest_network.py.
"""

from __future__ import annotations

import re

# The kernel's own names, which only net.ifnames=0 keeps.
KERNEL_NAME = r"eth\d+"
# Per configuration style, how a file names an interface.
PATTERNS = (
    # ifupdown: auto/allow-hotplug/allow-auto lines (several names), iface lines.
    re.compile(r"^\s*(?:auto|allow-hotplug|allow-auto)\s+(.*)$"),
    re.compile(r"^\s*(?:iface|mapping)\s+(\S+)"),
    # Red Hat ifcfg, NetworkManager keyfiles, systemd-networkd .network/.link files.
    re.compile(r"^\s*(?:DEVICE|NAME)\s*=\s*[\"']?([^\"'\s]+)"),
    re.compile(r"^\s*interface-name\s*=\s*(\S+)"),
    re.compile(r"^\s*Name\s*=\s*(.+)$"),
    # netplan: an interface id under ethernets, or set-name.
    re.compile(r"^\s+(eth\d+)\s*:\s*$"),
    re.compile(r"^\s*set-name\s*:\s*[\"']?([^\"'\s]+)"),
)
IFCFG_NAME = re.compile(r"(?:^|/)ifcfg-(%s)$" % KERNEL_NAME)
# udev's persistent-net generator writes: SUBSYSTEM=="net", ..., ATTR{address}=="00:16:3e:..", ..., NAME="eth0"
MAC_BOUND_RULE = re.compile(r"^\s*[^#].*ATTR\{address\}\s*==.*NAME\s*:?=")


def kernel_interface_names(configs):
    """{"eth0": [paths]}: the kernel-named interfaces (eth0, eth1 ...) the configuration files use.

    configs: {path: text} of the guest's network configuration files.
    """
    found = {}
    for path in sorted(configs or {}):
        names = set()
        match = IFCFG_NAME.search(path)
        if match:
            names.add(match.group(1))
        for line in (configs[path] or "").splitlines():
            if line.lstrip().startswith("#"):
                continue
            for pattern in PATTERNS:
                hit = pattern.match(line)
                if hit:
                    names.update(name for name in re.split(r"[\s,]+", hit.group(1).strip())
                                 if re.fullmatch(KERNEL_NAME, name))
        for name in names:
            found.setdefault(name, []).append(path)
    return dict(sorted(found.items()))


def persistent_net_rules(text):
    """The udev persistent-net rules without the entries bound to a MAC address.

    Returns {"content": the new text, "removed": the rule lines taken out}. Comments stay, so that
    what the PV instance's NICs were remains readable; the generator writes new entries on HVM.
    """
    kept, removed = [], []
    for line in (text or "").splitlines():
        (removed if MAC_BOUND_RULE.match(line) else kept).append(line)
    content = "\n".join(kept) + ("\n" if kept else "")
    return {"content": content, "removed": removed}
