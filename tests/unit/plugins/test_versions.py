"""Kernel release strings compared as versions (plugins/plugin_utils/versions.py), as dpkg and rpm compare them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.versions import (
    compare_versions, release_series, sort_versions)

# (older, newer): each pair a string sort gets wrong, or a rule of the package managers.
OLDER_NEWER = [
    ("4.9", "4.14"),                                            # numbers, not characters
    ("4.9.0-8-amd64", "4.14.0-1-amd64"),
    ("2.6.32-71", "2.6.32-696"),
    ("2.6.32-71.el6.x86_64", "2.6.32-696.30.1.el6.x86_64"),     # RHEL 6.0 -> 6.10
    ("3.10.0-957.el7.x86_64", "3.10.0-1160.el7.x86_64"),
    ("4.14.181-108.257.amzn1.x86_64", "4.14.193-113.317.amzn1.x86_64"),
    ("5.10.0-28-cloud-amd64", "6.1.0-18-cloud-amd64"),
    ("6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64"),
    ("2.6.18-8.el5", "2.6.18-398.el5"),
    ("4.19.0-0.bpo.5-amd64", "4.19.0-5-amd64"),                 # a backport is older than the release
    ("5.0.0-rc3", "5.0.0"),                                     # kernel-style release candidate
    ("5.0.0-rc3", "5.0.0-rc10"),
    ("6.2.0-rc7-amd64", "6.2.0-1-amd64"),
    ("1.0~rc1", "1.0"),                                         # "~" sorts before everything, even the end
    ("1.0~~", "1.0~"),
    ("1.0", "1.0a"),                                            # letters after the end
    ("1.0a", "1.0+"),                                           # letters before punctuation
    ("1.0", "1:0.9"),                                           # the epoch first
]


@pytest.mark.parametrize("older, newer", OLDER_NEWER)
def test_older_compares_below_newer(older: str, newer: str) -> None:
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert compare_versions(older, older) == 0


def test_equal_versions_despite_spelling() -> None:
    assert compare_versions("2.6.32-071", "2.6.32-71") == 0  # leading zeros do not count
    assert compare_versions("1.0", "0:1.0") == 0


def test_sort_is_newest_first_and_not_a_string_sort() -> None:
    kernels = ["6.1.0-9-cloud-amd64", "6.1.0-50-cloud-amd64", "6.1.0-10-cloud-amd64", "5.10.0-28-cloud-amd64"]
    assert sort_versions(kernels) == ["6.1.0-50-cloud-amd64", "6.1.0-10-cloud-amd64", "6.1.0-9-cloud-amd64",
                                      "5.10.0-28-cloud-amd64"]
    assert sorted(kernels, reverse=True)[0] == "6.1.0-9-cloud-amd64", "a string sort would boot the oldest 6.1"
    assert sort_versions(kernels, newest_first=False)[0] == "5.10.0-28-cloud-amd64"


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
@pytest.mark.parametrize("left, right", [pair for pair in OLDER_NEWER if "rc" not in "".join(pair)]
                         + [("2.6.32-5-xen-amd64", "2.6.32-5-amd64"), ("1.0-1", "1.0.1"), ("3.0.101-63-xen", "3.0.101-63-default")])
def test_agrees_with_dpkg(left: str, right: str) -> None:
    """Without kernel-style pre-releases (which grub-mkconfig rewrites to "~rc"), the order is dpkg's."""
    expected = 0
    for operator, value in (("lt", -1), ("gt", 1)):
        if subprocess.run(["dpkg", "--compare-versions", left, operator, right], check=False).returncode == 0:
            expected = value
    assert compare_versions(left, right) == expected


def test_release_series() -> None:
    assert release_series("2.6.32-5-xen-amd64") == (2, 6, 32)
    assert release_series("4.14.181-108.257.amzn1.x86_64") == (4, 14, 181)
    assert release_series("0-rescue-0123abcd") == (0,)
    assert release_series("vmlinuz") == ()
