# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the image's package manager gets the GRUB package from during a conversion.

By default from the image's own repositories. A worker in a private subnet, or an end-of-life image
whose mirror is gone (Debian's old releases live on archive.debian.org), needs another source: a
proxy for the package manager, or a mirror URL per OS family that replaces the image's repositories
for the install only. Nothing of it stays in the image: the source list, the repository file and
the package lists the install used are files of their own that the role removes afterwards.
"""

from __future__ import annotations

import re

# Debian's releases by major version, for images whose os-release names no codename (Debian 7, 8).
DEBIAN_CODENAMES = {
    "6": "squeeze", "7": "wheezy", "8": "jessie", "9": "stretch", "10": "buster", "11": "bullseye",
    "12": "bookworm", "13": "trixie", "14": "forky",
}
FAMILIES = ("Debian", "RedHat", "Amazon")
# The files the role writes into the image for a mirror, removed again after the install.
APT_SOURCE_LIST = "/etc/apt/pv2hvm-sources.list"
APT_LISTS_DIR = "/var/lib/apt/pv2hvm-lists"
YUM_REPO_FILE = "/etc/yum.repos.d/pv2hvm-mirror.repo"
YUM_REPO_ID = "pv2hvm-mirror"
_URL = re.compile(r"^(https?|ftp|file)://\S+$")


def debian_codename(os_release: str = "", debian_version: str = "") -> str:
    """The Debian/Ubuntu codename of an image: VERSION_CODENAME, else the one in VERSION ("8 (jessie)"),
    else Debian's by the major version of /etc/debian_version. "" when none can be told."""
    values = {}
    for line in (os_release or "").splitlines():
        matched = re.match(r'^\s*([A-Z_]+)=(.*)$', line)
        if matched:
            values[matched.group(1)] = matched.group(2).strip().strip("\"'")
    if values.get("VERSION_CODENAME"):
        return values["VERSION_CODENAME"]
    if values.get("UBUNTU_CODENAME"):
        return values["UBUNTU_CODENAME"]
    matched = re.search(r"\(([a-z]+)\)", values.get("VERSION", ""))
    if matched:
        return matched.group(1)
    major = (values.get("VERSION_ID") or (debian_version or "").strip()).split(".")[0]
    return DEBIAN_CODENAMES.get(major, "")


def check(mirror, proxy):
    """Problems with the package source options, each naming the option (empty: fine)."""
    problems = []
    if not isinstance(mirror, dict):
        return [f"pv2hvm_package_mirror must be a mapping of OS family to repository URL (e.g. {{Debian: "
                f"'http://mirror.internal/debian'}}), got {mirror!r}."]
    for family, url in mirror.items():
        if family not in FAMILIES:
            problems.append(f"pv2hvm_package_mirror: {family!r} is not an OS family; use {', '.join(FAMILIES)}.")
        elif not isinstance(url, str) or not _URL.match(url):
            problems.append(f"pv2hvm_package_mirror.{family} must be a repository URL (http://, https://, ftp:// or file://), "
                            f"got {url!r}.")
    if proxy and (not isinstance(proxy, str) or not re.match(r"^https?://\S+$", proxy)):
        problems.append(f"pv2hvm_package_proxy must be an http:// or https:// proxy URL, got {proxy!r}.")
    return problems


def package_source(family, codename="", mirror=None, proxy="", trusted=False):
    """How the image's package manager is pointed at its packages, for `family`.

    Returns {"mirror": the URL used or "", "files": {path in the image: content} to write before the
    install and remove after it, "dirs": directories to make and remove likewise, "options": the
    arguments added to every package manager command, "describe": one line for the log}.
    """
    problems = check(mirror if mirror is not None else {}, proxy)
    if problems:
        raise ValueError(" ".join(problems))
    url = (mirror or {}).get(family, "")
    files, dirs, options = {}, [], []
    if family == "Debian":
        if url:
            if not codename:
                raise ValueError("pv2hvm_package_mirror.Debian is set, but the image's release codename cannot be told "
                                 "from its /etc/os-release or /etc/debian_version: install its GRUB package on the PV "
                                 "source, or set pv2hvm_install_packages: false.")
            flags = "[trusted=yes] " if trusted else ""
            files[APT_SOURCE_LIST] = (f"# cloudops.pv2hvm: the GRUB install's only source (removed afterwards)\n"
                                      f"deb {flags}{url} {codename} main\n")
            dirs = [APT_LISTS_DIR, APT_LISTS_DIR + "/partial"]
            options += ["-o", f"Dir::Etc::SourceList={APT_SOURCE_LIST}", "-o", "Dir::Etc::SourceParts=/nonexistent",
                        "-o", f"Dir::State::Lists={APT_LISTS_DIR}",
                        # archive.debian.org's Release files are past their Valid-Until date for good.
                        "-o", "Acquire::Check-Valid-Until=false"]
        if proxy:
            options += ["-o", f"Acquire::http::Proxy={proxy}", "-o", f"Acquire::https::Proxy={proxy}"]
    elif family in ("RedHat", "Amazon"):
        if url:
            files[YUM_REPO_FILE] = (f"# cloudops.pv2hvm: the GRUB install's only repository (removed afterwards)\n"
                                    f"[{YUM_REPO_ID}]\nname=cloudops.pv2hvm package mirror\nbaseurl={url}\n"
                                    f"enabled=0\ngpgcheck={0 if trusted else 1}\n")
            options += ["--disablerepo=*", f"--enablerepo={YUM_REPO_ID}"]
        if proxy:
            options += [f"--setopt=proxy={proxy}"]
    elif url or proxy:
        raise ValueError(f"a package mirror or proxy is not supported for the {family or 'unknown'} family.")
    parts = [f"mirror {url}" + (f" ({codename})" if family == "Debian" and url else "") if url else "the image's own repositories"]
    if proxy:
        parts.append(f"through proxy {proxy}")
    return {"mirror": url, "files": files, "dirs": dirs, "options": options, "describe": " ".join(parts)}
