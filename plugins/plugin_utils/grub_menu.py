# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kernel a GRUB configuration boots by default, read from the configuration itself.

grub_install checks its result with this: the default entry of the written grub.cfg (grub2) or
grub.conf (GRUB legacy) must boot the kernel the role chose. grub2's default is an index, a menu
entry id or title, or a ">"-separated path of them into submenus, possibly through saved_entry in
grubenv. No I/O; unit-tested in tests/unit/plugins/test_grub_menu.py.
"""

from __future__ import annotations

import re
import shlex

_ENTRY_RE = re.compile(r"^\s*(menuentry|submenu)\s+(.*?)\s*\{\s*$")
_LINUX_RE = re.compile(r"^\s*(?:linux|linux16|linuxefi|kernel)\s+(\S+)")


def default_kernel(config, grubenv=""):
    """The <version> of the vmlinuz-<version> that the configuration boots by default, or "" when
    that cannot be told from the text (e.g. Boot Loader Specification entries)."""
    if re.search(r"(?m)^\s*(?:menuentry|submenu)\s", config or ""):
        return _grub2_default(config, grubenv)
    return _legacy_default(config or "")


def _version(path):
    name = path.rsplit("/", 1)[-1].rsplit(")", 1)[-1]
    return name[len("vmlinuz-"):] if name.startswith("vmlinuz-") else ""


def _grub2_menu(config):
    """The menu as a tree: [{"kind", "title", "id", "kernel", "children"}]."""
    top = []
    stack = [(None, top)]
    for line in config.splitlines():
        entry = _ENTRY_RE.match(line)
        if entry:
            try:
                words = shlex.split(entry.group(2).replace("$menuentry_id_option", "--id"))
            except ValueError:
                words = entry.group(2).split()
            ident = words[words.index("--id") + 1] if "--id" in words[:-1] else ""
            node = {"kind": entry.group(1), "title": words[0] if words else "", "id": ident, "kernel": "",
                    "children": []}
            stack[-1][1].append(node)
            stack.append((node, node["children"]))
        elif re.match(r"^\s*\S.*\{\s*$", line):
            stack.append((None, []))  # a function or another block: not a menu level
        elif re.match(r"^\s*\}\s*$", line) and len(stack) > 1:
            stack.pop()
        else:
            linux = _LINUX_RE.match(line)
            if linux and stack[-1][0] is not None and not stack[-1][0]["kernel"]:
                stack[-1][0]["kernel"] = linux.group(1)
    return top


def _grub2_default(config, grubenv):
    value = "0"
    for match in re.finditer(r"(?m)^\s*set\s+default=(.+?)\s*$", config):
        candidate = match.group(1).strip("\"'")
        if candidate != "${next_entry}":
            value = candidate
    if value in ("${saved_entry}", "$saved_entry"):
        saved = re.search(r"(?m)^saved_entry=(.*)$", grubenv or "")
        value = saved.group(1).strip() if saved and saved.group(1).strip() else "0"
    level = _grub2_menu(config)
    node = None
    for part in value.split(">"):
        node = _pick(level, part)
        if node is None:
            return ""
        level = node["children"]
    if node["kind"] == "submenu":  # GRUB boots the first entry of a submenu it is pointed at
        while node and node["kind"] == "submenu":
            node = node["children"][0] if node["children"] else None
    return _version(node["kernel"]) if node else ""


def _pick(level, part):
    if part.isdigit():
        index = int(part)
        return level[index] if index < len(level) else None
    return next((node for node in level if part in (node["id"], node["title"])), None)


def _legacy_default(config):
    """GRUB legacy (grub.conf, menu.lst): "default N" or "default=N" counts the "title" entries."""
    index = 0
    titles = []
    for line in config.splitlines():
        stripped = line.strip()
        default = re.match(r"^default(?:\s*=\s*|\s+)(\d+)\s*$", stripped)
        if default:
            index = int(default.group(1))
        elif re.match(r"^title\b", stripped):
            titles.append("")
        elif titles and not titles[-1]:
            kernel = re.match(r"^kernel\s+(\S+)", stripped)
            if kernel:
                titles[-1] = kernel.group(1)
    return _version(titles[index]) if index < len(titles) else ""
