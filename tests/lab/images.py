"""Real PV-style Debian root filesystem images for the lab, built with mmdebstrap and cached.

An EC2 PV guest boots from an unpartitioned root disk: PV-GRUB (outside the guest) reads
`/boot/grub/menu.lst` (`root (hd0)`, `kernel ... root=/dev/xvde1 console=hvc0`) and the guest talks
to the Xen console `hvc0`. `build_pv_image()` makes exactly such a disk, shaped like a real machine:
a filesystem that fills its whole-GiB volume, no partition table and no boot loader, fstab on the
PV device names (root, and a data volume at /dev/xvdf that `build_data_disk()` makes), a menu entry
per kernel (newest first and default; see BACKPORTS_KERNELS for why there is one), a getty on hvc0,
and nothing else: no lab payload. The boot check (bootcheck.py) brings its own probe in an overlay, as it does
for a user's image.

Images are cached under `${PV2HVM_CACHE_DIR:-~/.cache/pv2hvm}/images/`, keyed by a hash of the
spec and of this file, so a second run reuses them. Run as root (mmdebstrap --mode=root, loop mounts).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from tests.lab.system import loop_device, mounted, run, sha256_file

DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "PV2HVM_DEBIAN_MIRROR"
CACHE_ENV = "PV2HVM_CACHE_DIR"

# Only what a booting, convertible guest needs; `apt` variant = Essential + apt. One debootstrapped
# tree (cached as a tarball, keyed by suite and packages) serves every image variant of a suite.
BASE_PACKAGES = ("systemd-sysv", "udev", "kmod", "initramfs-tools", "e2fsprogs", "xfsprogs", "linux-image-cloud-amd64")
FSTYPES = ("ext4", "xfs")
ROOTFS_FORMAT = 2  # bump to rebuild every cached tree
# A real machine that was kept up to date has more than one kernel: the suite's, and a newer one its
# admin took from backports, e.g. {"bookworm": ("bookworm-backports", "linux-image-cloud-amd64")}
# (the newest is the PV menu's default; the older stays installed). Off: bookworm-backports' 6.12
# kernel does not boot reliably under this machine kind's qemu 7.2 TCG (debug-exception warnings,
# then slab corruption and a panic in PID 1), and every boot check boots the default kernel.
# tests/integration/guest/test_kernel_choice.py adds kernels to a copy instead.
BACKPORTS_KERNELS: dict[str, tuple[str, str]] = {}
SUPPORTED_ROOT_DEVICES = ("/dev/xvde1", "/dev/sda1")
DATA_MOUNTPOINT = "/srv/appdata"


@dataclasses.dataclass(frozen=True)
class PVImageSpec:
    """What to build. Every field is part of the cache key."""

    suite: str = "bookworm"
    fstype: str = "ext4"
    root_device: str = "/dev/xvde1"
    # A multiple of 1024: the filesystem fills its EBS volume (whole GiB), as on every real PV machine.
    size_mib: int = 2048
    label: str = "pvroot"
    # Fill the filesystem to this percentage of its space (as df counts it) with a data file: a
    # nearly full root, as real machines have. 0 = as built.
    fill_percent: int = 0
    # The guest's own arguments on the PV menu's kernel line, as users set them (kept on HVM).
    kernel_args: str = "elevator=noop net.ifnames=0 biosdevname=0"
    # A data volume in fstab by its PV device name, the classic EC2 pattern (no nofail: the data
    # must be there). "" = none. `build_data_disk()` makes a volume for it.
    data_device: str = "/dev/xvdf"

    def validate(self) -> None:
        if self.fstype not in FSTYPES:
            raise ValueError(f"fstype {self.fstype!r} is not supported; use one of {FSTYPES}")
        if not 0 <= self.fill_percent <= 100:
            raise ValueError(f"fill_percent {self.fill_percent} is not a percentage")
        if self.root_device not in SUPPORTED_ROOT_DEVICES:
            raise ValueError(f"root_device {self.root_device!r} is not a PV root device; use one of {SUPPORTED_ROOT_DEVICES}")
        if self.data_device and not re.match(r"^/dev/(xvd|sd)[b-z][0-9]*$", self.data_device):
            raise ValueError(f"data_device {self.data_device!r} is not a PV data device name such as /dev/xvdf")
        if self.size_mib < 768:
            raise ValueError(f"size_mib {self.size_mib} is too small for a bookworm root with a kernel; use >= 768")

    @property
    def name(self) -> str:
        fill = f"-full{self.fill_percent}" if self.fill_percent else ""
        return f"pv-{self.suite}-{self.fstype}-{Path(self.root_device).name}-{self.size_mib}m{fill}"


@dataclasses.dataclass(frozen=True)
class PVImage:
    """A built image in the cache. `disk` is the raw, unpartitioned PV root disk; never write to it."""

    spec: PVImageSpec
    directory: Path
    disk: Path
    kernel: Path
    initrd: Path
    kernel_version: str  # the newest, the PV menu's default
    kernel_versions: tuple[str, ...]  # every kernel of the image, newest first
    fs_uuid: str
    build_seconds: float
    cached: bool


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pv2hvm")


def cache_key(spec: PVImageSpec) -> str:
    """Hash of the builder's inputs: the spec and this file (packages, PV settings)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def build_pv_image(spec: PVImageSpec | None = None, *, rebuild: bool = False) -> PVImage:
    """Return the cached PV image for `spec`, building it first when it is missing (root only)."""
    spec = spec or PVImageSpec()
    spec.validate()
    directory = cache_dir() / "images" / f"{spec.name}-{cache_key(spec)}"
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per image, across test processes
        if rebuild and directory.exists():
            shutil.rmtree(directory)
        if (directory / "image.json").exists():
            return _load(spec, directory, cached=True)
        _build(spec, directory)
        return _load(spec, directory, cached=False)


def _load(spec: PVImageSpec, directory: Path, *, cached: bool) -> PVImage:
    info = json.loads((directory / "image.json").read_text(encoding="utf-8"))
    return PVImage(
        spec=spec, directory=directory, disk=directory / "disk.img", kernel=directory / "vmlinuz",
        initrd=directory / "initrd.img", kernel_version=info["kernel_version"],
        kernel_versions=tuple(info["kernel_versions"]), fs_uuid=info["fs_uuid"],
        build_seconds=info["build_seconds"], cached=cached,
    )


def _build(spec: PVImageSpec, directory: Path) -> None:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".build-{spec.name}-", dir=directory.parent))
    try:
        tree = work / "root"
        tree.mkdir()
        run(["tar", "-x", "--numeric-owner", "--preserve-permissions", "-f", str(rootfs_tarball(spec.suite)), "-C", str(tree)])
        kernel_versions = _configure_pv(spec, tree)
        kernel_version = kernel_versions[0]
        shutil.copy2(tree / "boot" / f"vmlinuz-{kernel_version}", work / "vmlinuz")
        shutil.copy2(tree / "boot" / f"initrd.img-{kernel_version}", work / "initrd.img")
        disk = work / "disk.img"
        _make_filesystem(spec, tree, disk)
        shutil.rmtree(tree)
        fs_uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", str(disk)]).strip()
        info = {
            "spec": dataclasses.asdict(spec), "kernel_version": kernel_version,
            "kernel_versions": kernel_versions, "fs_uuid": fs_uuid,
            "build_seconds": round(time.monotonic() - started, 1), "sha256": sha256_file(disk),
        }
        (work / "image.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        work.rename(directory)
    finally:
        if work.exists():
            shutil.rmtree(work)


def rootfs_tarball(suite: str) -> Path:
    """The debootstrapped tree of `suite` as a tarball, built once (mmdebstrap, root) and cached."""
    key = hashlib.sha256(json.dumps([suite, BASE_PACKAGES, BACKPORTS_KERNELS.get(suite), ROOTFS_FORMAT]).encode()).hexdigest()[:16]
    tarball = cache_dir() / "rootfs" / f"{suite}-{key}.tar"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with open(tarball.parent / f".{tarball.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tarball.exists():
            partial = tarball.with_suffix(".partial.tar")
            try:
                _debootstrap(suite, partial, tarball.with_suffix(".log"))
                partial.rename(tarball)
            finally:
                partial.unlink(missing_ok=True)
    return tarball


def _debootstrap(suite: str, target: Path, log: Path) -> None:
    packages = ",".join(BASE_PACKAGES)
    mirror = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)
    argv = [
        "mmdebstrap", "--mode=root", "--variant=apt", "--quiet", f"--include={packages}",
        # Documentation, manuals and translations are a third of the tree and nothing boots from them.
        "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/locale/*",
    ]
    mirrors = [mirror]
    if suite in BACKPORTS_KERNELS:
        backports, package = BACKPORTS_KERNELS[suite]
        mirrors.append(f"deb {mirror} {backports} main")
        argv.append(f'--customize-hook=chroot "$1" env DEBIAN_FRONTEND=noninteractive '
                    f'apt-get install --yes --no-install-recommends --target-release {backports} {package}')
    argv += [suite, str(target), *mirrors]
    log.write_text(run(argv, timeout=1800), encoding="utf-8")


def _configure_pv(spec: PVImageSpec, tree: Path) -> list[str]:
    """Turn the debootstrapped tree into what an EC2 PV instance's root disk looks like."""
    kernels = sorted((path.name.removeprefix("vmlinuz-") for path in (tree / "boot").glob("vmlinuz-*")), key=_version_key, reverse=True)
    expected = 2 if spec.suite in BACKPORTS_KERNELS else 1
    if len(kernels) != expected:
        raise RuntimeError(f"expected {expected} kernels in the built tree, found {kernels}")
    passno = "1" if spec.fstype == "ext4" else "0"
    _write(tree / "etc/fstab",
           "# PV instance: the root disk is the Xen block device, unpartitioned\n"
           f"{spec.root_device}\t/\t{spec.fstype}\tdefaults\t0\t{passno}\n"
           "/dev/xvdb\t/mnt\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2\n"
           + (f"{spec.data_device}\t{DATA_MOUNTPOINT}\text4\tdefaults\t0\t2\n" if spec.data_device else ""))
    if spec.data_device:
        (tree / DATA_MOUNTPOINT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    # As update-grub (grub-legacy-ec2) writes it: one entry per kernel, newest first and default.
    entries = "\n".join(
        f"title Debian GNU/Linux {spec.suite}, kernel {kernel}\n"
        "root (hd0)\n"
        f"kernel /boot/vmlinuz-{kernel} root={spec.root_device} ro console=hvc0 {spec.kernel_args}".rstrip() + "\n"
        f"initrd /boot/initrd.img-{kernel}\n" for kernel in kernels)
    _write(tree / "boot/grub/menu.lst",
           "# PV-GRUB configuration (read by the Xen host, not by a boot loader on this disk)\n"
           "default 0\ntimeout 1\n\n" + entries)
    _write(tree / "etc/hostname", "pv2hvm-lab\n")
    _write(tree / "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tpv2hvm-lab\n")
    _write(tree / "etc/resolv.conf", "")  # mmdebstrap copied the build host's
    _write(tree / "etc/machine-id", "")
    wants = tree / "etc/systemd/system/getty.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "serial-getty@hvc0.service").symlink_to("/lib/systemd/system/serial-getty@.service")
    return kernels


def _version_key(version: str) -> tuple[int, ...]:
    """Numeric order of kernel versions (6.12.74+deb12 above 6.1.0-50), enough for the lab's kernels."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def _make_filesystem(spec: PVImageSpec, tree: Path, disk: Path) -> None:
    with open(disk, "wb") as handle:
        handle.truncate(spec.size_mib * 1024 * 1024)
    if spec.fstype == "ext4":
        # bookworm's mke2fs -d reads a directory, not a tarball.
        run(["mkfs.ext4", "-q", "-F", "-L", spec.label, "-d", str(tree), str(disk)])
    else:
        run(["mkfs.xfs", "-q", "-f", "-L", spec.label, str(disk)])
    if spec.fstype == "xfs" or spec.fill_percent:
        with loop_device(disk) as device, mounted(device) as target:
            if spec.fstype == "xfs":
                run(["cp", "-a", f"{tree}/.", str(target)])
            if spec.fill_percent:
                _fill(target, spec.fill_percent)


def _fill(root: Path, percent: int) -> None:
    """Allocate a data file so that the filesystem is `percent` % used, as df counts it."""
    stats = os.statvfs(root)
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    usable = used + stats.f_bavail * stats.f_frsize
    wanted = usable * percent // 100 - used
    if wanted <= 0:
        raise RuntimeError(f"the image is already {used * 100 // usable} % used; cannot fill it to {percent} %")
    data = root / "srv" / "data"
    data.mkdir(parents=True, exist_ok=True)
    run(["fallocate", "--length", str(wanted), str(data / "application.dat")])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text, encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class DataDisk:
    """A data volume's disk: an unpartitioned ext4 filesystem with a few application files."""

    disk: Path
    fs_uuid: str
    files: dict[str, bytes]

    @property
    def digest(self) -> str:
        """sha256 of the files' contents in path order: what the boot probe prints for the mount."""
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(self.files[name])
        return digest.hexdigest()


def build_data_disk(path: Path, *, size_mib: int = 1024, label: str = "appdata") -> DataDisk:
    """Write a data volume's disk to `path` (mkfs.ext4 -d: no loop device, no mount)."""
    files = {
        "orders/2013-11.csv": b"id,amount\n1,10.00\n2,24.50\n",
        "config/app.ini": b"[app]\nname=legacy-web\n",
        "README": b"Data volume of the lab's PV instance (mounted from /dev/xvdf).\n",
    }
    with tempfile.TemporaryDirectory(prefix="pv2hvm-data-") as temp:
        for name, content in files.items():
            (Path(temp) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(temp) / name).write_bytes(content)
        with open(path, "wb") as handle:
            handle.truncate(size_mib * 1024 * 1024)
        run(["mkfs.ext4", "-q", "-F", "-L", label, "-d", temp, str(path)])
    fs_uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", str(path)]).strip()
    return DataDisk(disk=path, fs_uuid=fs_uuid, files=files)
