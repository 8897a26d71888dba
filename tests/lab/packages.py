"""The lab's Debian package mirror: the few packages the conversions install, served on 127.0.0.1.

A conversion of an image without GRUB installs the image's grub-pc from a package repository
(grub_install's packages.yml). Against the real Debian mirror every test would depend on it answering
and pay for `apt-get update` of the whole index; the lab instead points the conversions at this
repository through the user-facing option `pv2hvm_package_mirror` (a worker without internet does the
same with its own mirror). For each suite and architecture the lab's images use, grub-pc and its
dependency closure are fetched once with the host's apt (its own state directory, Debian's keyring)
and laid out as a small Debian archive: `dists/<suite>/Release`, `dists/<suite>/main/binary-<arch>/
Packages` and `pool/<suite>/`. The archive is cached under `${PV2HVM_CACHE_DIR}/packages/`, keyed by
a hash of this file, like the images; with the cache warm nothing leaves the machine.

    vars = lab_package_vars()   # {"pv2hvm_package_mirror": {"Debian": "http://127.0.0.1:PORT/debian"}, ...}

The archive is unsigned: the conversions are told so (`pv2hvm_package_mirror_trusted: true`).
PV2HVM_LAB_PACKAGES=image makes `lab_package_vars()` return nothing, so the conversions use the
images' own repositories (deb.debian.org), as one test does on purpose.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.lab.images import DEFAULT_MIRROR, MIRROR_ENV, cache_dir

# What the conversions install (grub_install's vars/Debian.yml) and where the lab's images come from.
PACKAGES = ("grub-pc",)
SUITES = {"bookworm": ("amd64", "i386"), "bullseye": ("amd64",)}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SOURCE_ENV = "PV2HVM_LAB_PACKAGES"  # "image": the images' own repositories instead of the lab's mirror
URL_PATH = "/debian"


def cache_key() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(os.environ.get(MIRROR_ENV, DEFAULT_MIRROR).encode())
    return digest.hexdigest()[:16]


def archive_dir() -> Path:
    """The lab's package archive, built on first use (every suite of SUITES) and cached."""
    directory = cache_dir() / "packages" / f"debian-{cache_key()}"
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder, across test processes
        if not (directory / "complete").exists():
            work = Path(tempfile.mkdtemp(prefix=".build-debian-", dir=directory.parent))
            try:
                for suite, architectures in SUITES.items():
                    for architecture in architectures:
                        _fetch(suite, architecture, work / "pool" / suite, work / ".apt" / f"{suite}-{architecture}")
                    _index(suite, architectures, work)
                shutil.rmtree(work / ".apt")
                (work / "complete").write_text("", encoding="utf-8")
                shutil.rmtree(directory, ignore_errors=True)
                work.rename(directory)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return directory


def _fetch(suite: str, architecture: str, pool: Path, state: Path) -> None:
    """Download PACKAGES and everything they depend on (from an empty system) into `pool`, with the host's apt."""
    for sub in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial",
                "var/lib/dpkg"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "var/lib/dpkg/status").write_text("", encoding="utf-8")
    mirror = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)
    (state / "etc/apt/sources.list").write_text(f"deb [signed-by={KEYRING}] {mirror} {suite} main\n", encoding="utf-8")
    options = ["-o", f"Dir={state}", "-o", f"Dir::State::status={state}/var/lib/dpkg/status",
               "-o", f"Dir::Etc::SourceParts={state}/none", "-o", f"APT::Architecture={architecture}",
               "-o", f"APT::Architectures={architecture}", "-o", "Acquire::Languages=none", "-o", "Debug::NoLocking=1",
               "-o", "APT::Sandbox::User=root"]
    for command in (["update", "-qq"], ["install", "--download-only", "--yes", "-qq", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(["apt-get", *options, *command], capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"apt-get {' '.join(command)} for {suite}/{architecture} from {mirror} failed: {done.stderr[-2000:]}")
    pool.mkdir(parents=True, exist_ok=True)
    for deb in (state / "var/cache/apt/archives").glob("*.deb"):
        # apt names a file with an epoch "2%3a1.02..."; the pool keeps plain names (no quoting in URLs).
        shutil.copy2(deb, pool / re.sub(r"_[0-9]+%3a", "_", deb.name))


def _index(suite: str, architectures: tuple[str, ...], root: Path) -> None:
    """Packages for each architecture and an unsigned Release for `suite`, as a Debian archive has them."""
    stanzas: dict[str, list[str]] = {architecture: [] for architecture in architectures}
    for deb in sorted((root / "pool" / suite).glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True).stdout.rstrip("\n")
        fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line and not line.startswith(" "))
        data = deb.read_bytes()
        stanza = (f"{control}\nFilename: pool/{suite}/{deb.name}\nSize: {len(data)}\n"
                  f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n")  # noqa: S324 (apt's field)
        for architecture in architectures:
            if fields.get("Architecture") in (architecture, "all"):
                stanzas[architecture].append(stanza)
    release = [f"Suite: {suite}", f"Codename: {suite}", "Components: main", f"Architectures: {' '.join(architectures)}", "SHA256:"]
    for architecture, entries in stanzas.items():
        relative = f"main/binary-{architecture}/Packages"
        path = root / "dists" / suite / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        content = "\n".join(entries).encode()
        path.write_bytes(content)
        release.append(f" {hashlib.sha256(content).hexdigest()} {len(content)} {relative}")
    (root / "dists" / suite / "Release").write_text("\n".join(release) + "\n", encoding="utf-8")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if not path.startswith(URL_PATH + "/"):
            return "/nonexistent"
        return super().translate_path(path[len(URL_PATH):])

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        pass  # quiet: tests read the conversions' own logs


@functools.lru_cache(maxsize=1)
def mirror_url() -> str:
    """Serve the lab's archive on 127.0.0.1 for as long as this process runs; its URL (a Debian archive root)."""
    directory = archive_dir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, name="pv2hvm-lab-packages", daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}{URL_PATH}"


def lab_package_vars() -> dict[str, Any]:
    """The extra vars that point a conversion at the lab's archive (none with PV2HVM_LAB_PACKAGES=image)."""
    if os.environ.get(SOURCE_ENV) == "image":
        return {}
    return {"pv2hvm_package_mirror": {"Debian": mirror_url()}, "pv2hvm_package_mirror_trusted": True}
