"""Where the image's package manager gets GRUB from: the image's repositories, a mirror per family, a proxy."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import guest_config
from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.package_source import check, debian_codename, package_source

BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
JESSIE = 'PRETTY_NAME="Debian GNU/Linux 8 (jessie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="8"\nVERSION="8 (jessie)"\nID=debian\n'
XENIAL = 'NAME="Ubuntu"\nVERSION="16.04.7 LTS (Xenial Xerus)"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="16.04"\nUBUNTU_CODENAME=xenial\n'


@pytest.mark.parametrize(("os_release", "debian_version", "codename"), [
    (BOOKWORM, "12.8\n", "bookworm"),
    (JESSIE, "8.11\n", "jessie"),          # no VERSION_CODENAME before Debian 9: from VERSION
    (XENIAL, "stretch/sid\n", "xenial"),
    ("", "7.11\n", "wheezy"),              # no os-release at all: by the major version
    ("", "", ""),
])
def test_the_codename_comes_from_the_release_files(os_release: str, debian_version: str, codename: str) -> None:
    assert debian_codename(os_release, debian_version) == codename


def test_os_identity_carries_the_codename_for_the_debian_family_only() -> None:
    assert guest_config.os_identity(JESSIE, "", "", "8.11\n")["codename"] == "jessie"
    assert guest_config.os_identity('ID="centos"\nVERSION_ID="7"\n')["codename"] == ""


def test_by_default_the_image_uses_its_own_repositories_and_nothing_is_written() -> None:
    source = package_source("Debian", "bookworm", {}, "")
    assert source == {"mirror": "", "files": {}, "dirs": [], "options": [], "describe": "the image's own repositories"}


def test_a_debian_mirror_replaces_the_sources_for_the_install_only() -> None:
    source = package_source("Debian", "jessie", {"Debian": "http://archive.debian.org/debian"}, "")
    expected = "# cloudops.pv2hvm: the GRUB install's only source (removed afterwards)\ndeb http://archive.debian.org/debian jessie main\n"
    assert source["files"] == {"/etc/apt/pv2hvm-sources.list": expected}
    options = source["options"]
    # The image's sources.list, sources.list.d and package lists are neither read nor written.
    assert ["-o", "Dir::Etc::SourceList=/etc/apt/pv2hvm-sources.list"] == options[0:2]
    assert "Dir::Etc::SourceParts=/nonexistent" in options and "Dir::State::Lists=/var/lib/apt/pv2hvm-lists" in options
    assert source["dirs"] == ["/var/lib/apt/pv2hvm-lists", "/var/lib/apt/pv2hvm-lists/partial"]
    assert "Acquire::Check-Valid-Until=false" in options  # archive.debian.org's Release files have expired
    assert source["describe"] == "mirror http://archive.debian.org/debian (jessie)"


def test_an_unsigned_mirror_is_trusted_only_when_asked() -> None:
    source = package_source("Debian", "bookworm", {"Debian": "http://127.0.0.1:8080/debian"}, "", True)
    assert "deb [trusted=yes] http://127.0.0.1:8080/debian bookworm main\n" in source["files"]["/etc/apt/pv2hvm-sources.list"]
    repo = package_source("RedHat", "", {"RedHat": "http://mirror/centos/7/os/x86_64/"}, "", False)["files"]["/etc/yum.repos.d/pv2hvm-mirror.repo"]
    assert "baseurl=http://mirror/centos/7/os/x86_64/\n" in repo and "gpgcheck=1\n" in repo


def test_a_proxy_goes_to_the_package_manager_of_each_family() -> None:
    assert package_source("Debian", "bookworm", {}, "http://proxy:3128")["options"] == [
        "-o", "Acquire::http::Proxy=http://proxy:3128", "-o", "Acquire::https::Proxy=http://proxy:3128"]
    both = package_source("Amazon", "", {"Amazon": "http://mirror/amzn/"}, "http://proxy:3128")
    assert both["options"] == ["--disablerepo=*", "--enablerepo=pv2hvm-mirror", "--setopt=proxy=http://proxy:3128"]
    assert both["describe"] == "mirror http://mirror/amzn/ through proxy http://proxy:3128"


def test_a_mirror_of_another_family_leaves_this_image_on_its_own_repositories() -> None:
    assert package_source("RedHat", "", {"Debian": "http://mirror/debian"}, "")["files"] == {}


@pytest.mark.parametrize(("mirror", "proxy", "named"), [
    ("http://mirror/debian", "", "pv2hvm_package_mirror must be a mapping"),
    ({"debian": "http://mirror/debian"}, "", "'debian' is not an OS family"),
    ({"Debian": "mirror.internal/debian"}, "", "pv2hvm_package_mirror.Debian must be a repository URL"),
    ({}, "proxy:3128", "pv2hvm_package_proxy must be an http:// or https:// proxy URL, got 'proxy:3128'"),
])
def test_bad_options_are_refused_by_name(mirror: object, proxy: str, named: str) -> None:
    problems = check(mirror, proxy)
    assert len(problems) == 1 and named in problems[0], problems
    with pytest.raises(ValueError, match="pv2hvm_package_"):
        package_source("Debian", "bookworm", mirror, proxy)  # type: ignore[arg-type]


def test_a_debian_mirror_needs_the_image_codename() -> None:
    with pytest.raises(ValueError, match="codename cannot be told"):
        package_source("Debian", "", {"Debian": "http://mirror/debian"}, "")
