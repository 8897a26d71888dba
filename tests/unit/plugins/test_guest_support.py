"""Which guests the roles convert, and the refusal of the others (plugins/plugin_utils/guest_support.py)."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import guest_config as gc
from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.guest_support import os_support, release_files

CONVERTED = {
    "Debian 12": ("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", "", "", ""),
    "Debian 7 without os-release": ("", "", "", "7.11\n"),
    "Ubuntu 12.04": ("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"12.04\"\n", "", "", ""),
    "CentOS 6": ("", "", "CentOS release 6.10 (Final)\n", ""),
    "Rocky 9": ("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n", "", "", ""),
    "Amazon Linux 1": ("ID=\"amzn\"\nVERSION_ID=\"2018.03\"\n", "Amazon Linux AMI release 2018.03\n", "", ""),
    "Amazon Linux 2": ("ID=\"amzn\"\nVERSION_ID=\"2\"\n", "Amazon Linux release 2 (Karoo)\n", "", ""),
    "Amazon Linux 2023": ("ID=\"amzn\"\nVERSION_ID=\"2023\"\n", "", "", ""),
    "Linux Mint (a Debian derivative)": ("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"21.3\"\n", "", "", ""),
}

REFUSED = {
    "RHEL 5": (("", "", "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n", ""),
               ["Red Hat Enterprise Linux Server release 5.11 (Tikanga)", "mkinitrd"]),
    "CentOS 5": (("", "", "CentOS release 5.11 (Final)\n", ""), ["CentOS release 5.11 (Final)", "mkinitrd"]),
    "Debian 5": (("", "", "", "5.0.10\n"), ["Debian 5.0.10", "xenlinux"]),
    "Ubuntu 9.10": (("ID=ubuntu\nVERSION_ID=\"9.10\"\nPRETTY_NAME=\"Ubuntu 9.10\"\n", "", "", ""), ["Ubuntu 9.10"]),
    "SLES 12": (("NAME=\"SLES\"\nID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"12.5\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 12 SP5\"\n",
                 "", "", ""), ["SUSE Linux Enterprise Server 12 SP5", "SUSE"]),
    "Gentoo": (("ID=gentoo\nPRETTY_NAME=\"Gentoo Linux\"\n", "", "", ""), ["Gentoo Linux", "not a guest the roles know"]),
    "no release files": (("", "", "", ""), ["without /etc/os-release", "not a guest the roles know"]),
}


@pytest.mark.parametrize("files", CONVERTED.values(), ids=CONVERTED.keys())
def test_supported_guests_pass(files: tuple[str, str, str, str]) -> None:
    assert os_support(gc.os_identity(*files)) == ""


@pytest.mark.parametrize(("files", "words"), REFUSED.values(), ids=REFUSED.keys())
def test_other_guests_are_refused_with_their_release_named(files: tuple[str, str, str, str], words: list[str]) -> None:
    reason = os_support(gc.os_identity(*files))
    for word in words:
        assert word in reason
    assert "the roles convert Debian 6 and later" in reason


def test_release_files_read_through_a_shell_refuse_a_centos5_guest() -> None:
    """What guest_preflight.yml's raw shell prints (over SSH with a tty: CRLF) becomes the files os_identity reads."""
    printed = ("==> os-release\r\n==> system-release\r\n==> redhat-release\r\nCentOS release 5.11 (Final)\r\n"
               "==> debian_version\r\n")
    files = release_files(printed)
    assert files == {"redhat-release": "CentOS release 5.11 (Final)\n"}
    identity = gc.os_identity(files.get("os-release", ""), files.get("system-release", ""),
                              files.get("redhat-release", ""), files.get("debian_version", ""))
    assert "CentOS release 5.11 (Final)" in os_support(identity)


def test_release_files_keep_every_line_of_each_file() -> None:
    printed = "==> os-release\nID=debian\nVERSION_ID=\"12\"\n==> debian_version\n12.8\n"
    files = release_files(printed)
    assert files == {"os-release": "ID=debian\nVERSION_ID=\"12\"\n", "debian_version": "12.8\n"}
    assert os_support(gc.os_identity(files["os-release"], "", "", files["debian_version"])) == ""
    assert release_files("") == {} and release_files(None) == {}
