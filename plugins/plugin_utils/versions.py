# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel release strings compared as versions, the way the package managers compare them.

The algorithm is dpkg's (`dpkg --compare-versions`: [epoch:]upstream[-revision], runs of digits
compared as numbers, other characters with letters before punctuation and "~" before everything,
even the end). Before comparing, pre-release markers written the kernel way ("-rc3", ".pre1") become
"~rc3", as Debian's grub-mkconfig does, so that 5.0.0-rc3 sorts below 5.0.0. For the release
strings of rpm distributions (2.6.32-696.el6.x86_64, 4.14.181-108.257.amzn1.x86_64) this gives the
order rpm's rpmvercmp gives: both compare digit runs numerically and letter runs lexically.
No I/O; unit-tested in tests/unit/plugins/test_versions.py.
"""

from __future__ import annotations

import functools
import re

# Kernel-style pre-release markers, as grub-mkconfig_lib's version_test_gt rewrites them.
PRE_RELEASE_RE = re.compile(r"[._-](pre|rc|test|git|old|trunk)")


def _order(char: str) -> int:
    """dpkg's weight of one non-digit character; "" is the end of the string."""
    if char == "~":
        return -1
    if not char or char.isdigit():
        return 0
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


def _verrevcmp(left: str, right: str) -> int:
    """dpkg's verrevcmp(): compare an upstream version or a revision; <0, 0 or >0."""
    i = j = 0
    while i < len(left) or j < len(right):
        # A run of non-digits, character by character ("" past the end).
        while (i < len(left) and not left[i].isdigit()) or (j < len(right) and not right[j].isdigit()):
            a = _order(left[i] if i < len(left) else "")
            b = _order(right[j] if j < len(right) else "")
            if a != b:
                return a - b
            i, j = i + 1, j + 1
        # A run of digits, as a number (leading zeros do not count; an empty run is 0).
        a_start, b_start = i, j
        while i < len(left) and left[i].isdigit():
            i += 1
        while j < len(right) and right[j].isdigit():
            j += 1
        a_number = int(left[a_start:i] or "0")
        b_number = int(right[b_start:j] or "0")
        if a_number != b_number:
            return -1 if a_number < b_number else 1
    return 0


def _split(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision) of a dpkg-style version string."""
    epoch = 0
    match = re.match(r"^(\d+):(.*)$", version)
    if match:
        epoch, version = int(match.group(1)), match.group(2)
    if "-" not in version:
        return epoch, version, ""
    upstream, revision = version.rsplit("-", 1)
    return epoch, upstream, revision


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as kernel release `left` is older than, the same as or newer than `right`."""
    a_epoch, a_upstream, a_revision = _split(PRE_RELEASE_RE.sub(r"~\1", left.strip()))
    b_epoch, b_upstream, b_revision = _split(PRE_RELEASE_RE.sub(r"~\1", right.strip()))
    if a_epoch != b_epoch:
        return -1 if a_epoch < b_epoch else 1
    result = _verrevcmp(a_upstream, b_upstream) or _verrevcmp(a_revision, b_revision)
    return (result > 0) - (result < 0)


def sort_versions(versions, newest_first: bool = True) -> list[str]:
    """The versions sorted with compare_versions, newest first unless told otherwise."""
    return sorted(versions, key=functools.cmp_to_key(compare_versions), reverse=newest_first)


def release_series(version: str) -> tuple[int, ...]:
    """The leading numbers of a kernel release: "2.6.32-5-xen-amd64" -> (2, 6, 32); () without one."""
    match = re.match(r"^(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()
