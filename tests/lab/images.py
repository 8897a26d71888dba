"""Real PV-style Debian root filesystem images for the lab, built with mmdebstrap and cached.

An EC2 PV guest boots from an unpartitioned root disk: PV-GRUB (outside the guest) reads
`/boot/grub/menu.lst` (`root (hd0)`, `kernel ... root=/dev/xvde1 console=hvc0`) and the guest talks
to the Xen console `hvc0`. `build_pv_image()` makes exactly such a disk, shaped like a real machine:
a filesystem that fills its whole-GiB volume, no partition table and no boot loader, fstab on the
PV device names (root, and a data volume at /dev/xvdf that `build_data_disk()` makes), a menu entry
per kernel (two, newest first and default; see OLDER_KERNEL_HOOK), ifupdown bringing
up eth0 (netfront's name) by DHCP, a getty on hvc0, and nothing else: no lab payload. Variants: GRUB 0.97
installed, a stale persistent-net rule, a partitioned root, a nearly full root, sysvinit instead of systemd
(the getty on hvc0 in /etc/inittab), dracut instead of initramfs-tools, another suite (bullseye), a 32-bit
(i386, 686-pae kernels) guest. The boot check (bootcheck.py) brings its own probe in an overlay, as it does
for a user's image.

Images are cached under `${PV2HVM_CACHE_DIR:-~/.cache/pv2hvm}/images/`, keyed by a hash of the
spec and of this file, so a second run reuses them. Run as root (mmdebstrap --mode=root, loop mounts).
"""

from __future__ import annotations

import contextlib
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
# A real machine that was kept up to date has more than one kernel: the one it runs, the newest, and the
# one before it, which the package manager keeps installed. The image gets the suite's cloud kernel
# (the metapackage's ABI) and the oldest other ABI of it that the suite's own index still carries
# (bookworm: 6.1.0-47 beside 6.1.0-50; bullseye: 5.10.0-30 beside 5.10.0-32). Not backports: its 6.12
# kernel does not boot reliably under this machine kind's qemu 7.2 TCG (debug-exception warnings, then
# slab corruption and a panic in PID 1). tests/integration/guest/test_kernel_choice.py adds PV-only,
# debug and wrongly string-sorted kernels to a copy.
# The kernel flavour of each architecture the lab builds, and how the hook names it in its error:
# amd64 has Debian's cloud kernel; i386 has none, its Xen-capable (PV and HVM) kernel is 686-pae.
KERNEL_FLAVOURS = {"amd64": ("cloud-amd64", "cloud"), "i386": ("686-pae", "686-pae")}


def older_kernel_hook(architecture: str = "amd64") -> str:
    """The mmdebstrap hook that installs the oldest other ABI of `architecture`'s kernel flavour."""
    flavour, kind = KERNEL_FLAVOURS[architecture]
    pattern = f"^linux-image-[0-9].*-{flavour}$"
    return (
        'chroot "$1" sh -ec \''
        'installed=$(dpkg-query -W -f "\\${Package}\\n" "linux-image-[0-9]*"); '
        f'older=$(apt-cache search --names-only "{pattern}" | cut -d" " -f1 | grep -vxF "$installed" | sort -V | head -n1); '
        f'if [ -z "$older" ]; then echo "the mirror serves no second {kind} kernel ABI for this suite" >&2; exit 1; fi; '
        'DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends "$older"\''
    )


OLDER_KERNEL_HOOK = older_kernel_hook("amd64")
KERNELS_PER_MACHINE = 2
# The guest's init system and initramfs tool, each replacing its BASE_PACKAGES default: systemd, or
# sysvinit-core (no systemd at all; the console getty in /etc/inittab), as machines set up before
# Debian 8 or kept off systemd run; initramfs-tools, or Debian's dracut package (it replaces
# initramfs-tools), as admins used to RHEL put on their Debian machines.
INIT_PACKAGES = {"systemd": "systemd-sysv", "sysvinit": "sysvinit-core"}
INITRAMFS_PACKAGES = {"initramfs-tools": "initramfs-tools", "dracut": "dracut"}
SUPPORTED_ROOT_DEVICES = ("/dev/xvde1", "/dev/sda1")
PARTITION_START = 1024 * 1024  # a partitioned root's first sector, as fdisk aligns it
# The boot loader installed in the guest besides PV-GRUB's menu.lst: none (most PV images), or GRUB
# 0.97 as Amazon Linux 1 and RHEL/CentOS 6 carry it (Debian's grub-legacy: its grub-install is 0.97's,
# grub-common brings grub2's grub-mkconfig along).
BOOT_LOADER_PACKAGES = {"": (), "grub-legacy": ("grub-legacy",)}
# The guest's network configuration: none (systemd's defaults), or ifupdown bringing up eth0 by DHCP,
# Xen netfront's name, as Debian's PV AMIs were set up.
NETWORK_PACKAGES = {"": (), "ifupdown-eth0": ("ifupdown", "isc-dhcp-client")}
IFUPDOWN_ETH0 = "auto lo\niface lo inet loopback\n\n# The Xen PV instance's NIC (netfront)\nauto eth0\niface eth0 inet dhcp\n"
# What udev's persistent-net generator wrote on the PV instance: its netfront NIC, by MAC, is eth0.
STALE_PERSISTENT_NET = (
    "# This file was automatically generated by the /lib/udev/write_net_rules\n"
    "# program, run by the persistent-net-generator.rules rules file.\n\n"
    "# Xen virtual device (xen-netfront)\n"
    'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="12:31:39:0a:5c:d1", ATTR{dev_id}=="0x0", '
    'ATTR{type}=="1", KERNEL=="eth*", NAME="eth0"\n')
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
    kernel_args: str = "elevator=noop"
    # A data volume in fstab by its PV device name, the classic EC2 pattern (no nofail: the data
    # must be there). "" = none. `build_data_disk()` makes a volume for it.
    data_device: str = "/dev/xvdf"
    # A boot loader package installed in the guest (BOOT_LOADER_PACKAGES); "" = none.
    boot_loader: str = ""
    # The guest's network configuration (NETWORK_PACKAGES): by default ifupdown on eth0, as Debian's PV
    # machines have it; "" = none.
    network: str = "ifupdown-eth0"
    # A 70-persistent-net.rules entry binding the PV instance's MAC address to eth0.
    persistent_net_rule: bool = False
    # An msdos partition table with one partition from 1 MiB to the end of the volume holding the root
    # (PV-GRUB "root (hd0,0)"), as some PV AMIs had; False = the whole disk is the filesystem.
    partitioned: bool = False
    # The init system (INIT_PACKAGES): systemd, or sysvinit with the PV console's getty in /etc/inittab.
    init: str = "systemd"
    # The tool that builds the initramfs (INITRAMFS_PACKAGES): initramfs-tools or dracut.
    initramfs: str = "initramfs-tools"
    # The Debian architecture (KERNEL_FLAVOURS): amd64, or i386 (a 32-bit guest, 686-pae kernels).
    architecture: str = "amd64"

    def validate(self) -> None:
        if self.fstype not in FSTYPES:
            raise ValueError(f"fstype {self.fstype!r} is not supported; use one of {FSTYPES}")
        if not 0 <= self.fill_percent <= 100:
            raise ValueError(f"fill_percent {self.fill_percent} is not a percentage")
        if self.root_device not in SUPPORTED_ROOT_DEVICES:
            raise ValueError(f"root_device {self.root_device!r} is not a PV root device; use one of {SUPPORTED_ROOT_DEVICES}")
        if self.data_device and not re.match(r"^/dev/(xvd|sd)[b-z][0-9]*$", self.data_device):
            raise ValueError(f"data_device {self.data_device!r} is not a PV data device name such as /dev/xvdf")
        if self.boot_loader not in BOOT_LOADER_PACKAGES:
            raise ValueError(f"boot_loader {self.boot_loader!r} is not one of {sorted(BOOT_LOADER_PACKAGES)}")
        if self.network not in NETWORK_PACKAGES:
            raise ValueError(f"network {self.network!r} is not one of {sorted(NETWORK_PACKAGES)}")
        if self.init not in INIT_PACKAGES:
            raise ValueError(f"init {self.init!r} is not one of {sorted(INIT_PACKAGES)}")
        if self.initramfs not in INITRAMFS_PACKAGES:
            raise ValueError(f"initramfs {self.initramfs!r} is not one of {sorted(INITRAMFS_PACKAGES)}")
        if self.architecture not in KERNEL_FLAVOURS:
            raise ValueError(f"architecture {self.architecture!r} is not one of {sorted(KERNEL_FLAVOURS)}")
        if self.size_mib < 768:
            raise ValueError(f"size_mib {self.size_mib} is too small for a bookworm root with a kernel; use >= 768")

    @property
    def extra_packages(self) -> tuple[str, ...]:
        return tuple(sorted(BOOT_LOADER_PACKAGES[self.boot_loader] + NETWORK_PACKAGES[self.network]))

    @property
    def base_packages(self) -> tuple[str, ...]:
        """BASE_PACKAGES with this spec's init system, initramfs tool and kernel flavour."""
        chosen = {"systemd-sysv": INIT_PACKAGES[self.init], "initramfs-tools": INITRAMFS_PACKAGES[self.initramfs],
                  "linux-image-cloud-amd64": f"linux-image-{KERNEL_FLAVOURS[self.architecture][0]}"}
        return tuple(chosen.get(package, package) for package in BASE_PACKAGES)

    @property
    def name(self) -> str:
        fill = f"-full{self.fill_percent}" if self.fill_percent else ""
        arch = "" if self.architecture == "amd64" else f"-{self.architecture}"
        extras = "".join(f"-{extra}" for extra in (self.boot_loader, self.network, "part" if self.partitioned else "",
                                                   "" if self.init == "systemd" else self.init,
                                                   "" if self.initramfs == "initramfs-tools" else self.initramfs) if extra)
        return f"pv-{self.suite}{arch}-{self.fstype}-{Path(self.root_device).name}-{self.size_mib}m{fill}{extras}"


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
        tarball = rootfs_tarball(spec.suite, spec.extra_packages, base_packages=spec.base_packages, architecture=spec.architecture)
        run(["tar", "-x", "--numeric-owner", "--preserve-permissions", "-f", str(tarball), "-C", str(tree)])
        kernel_versions = _configure_pv(spec, tree)
        kernel_version = kernel_versions[0]
        shutil.copy2(tree / "boot" / f"vmlinuz-{kernel_version}", work / "vmlinuz")
        shutil.copy2(tree / "boot" / f"initrd.img-{kernel_version}", work / "initrd.img")
        disk = work / "disk.img"
        _make_filesystem(spec, tree, disk)
        shutil.rmtree(tree)
        offset = ["--offset", str(PARTITION_START)] if spec.partitioned else []
        fs_uuid = run(["blkid", "-p", *offset, "-s", "UUID", "-o", "value", str(disk)]).strip()
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


def rootfs_tarball(suite: str, extra_packages: tuple[str, ...] = (), *, base_packages: tuple[str, ...] = BASE_PACKAGES,
                   architecture: str = "amd64") -> Path:
    """The debootstrapped tree of `suite` for `architecture` (`base_packages` and `extra_packages`) as a tarball, built
    once (mmdebstrap, root) and cached."""
    hook = older_kernel_hook(architecture)
    key = hashlib.sha256(json.dumps([suite, list(base_packages), hook, ROOTFS_FORMAT]
                                    + ([list(extra_packages)] if extra_packages else [])
                                    + ([architecture] if architecture != "amd64" else [])).encode()).hexdigest()[:16]
    arch = "" if architecture == "amd64" else f"-{architecture}"
    tarball = cache_dir() / "rootfs" / f"{suite}{arch}-{key}.tar"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with open(tarball.parent / f".{tarball.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tarball.exists():
            partial = tarball.with_suffix(".partial.tar")
            try:
                _debootstrap(suite, partial, tarball.with_suffix(".log"), extra_packages, base_packages=base_packages,
                             architecture=architecture)
                partial.rename(tarball)
            finally:
                partial.unlink(missing_ok=True)
    return tarball


# Installed after the kernel: grub-legacy's kernel hook (update-grub) cannot probe BIOS drives in a
# build chroot, and a real system got its kernel before its boot loader too.
AFTER_THE_KERNEL = ("grub-legacy",)


def _debootstrap(suite: str, target: Path, log: Path, extra_packages: tuple[str, ...] = (), *,
                 base_packages: tuple[str, ...] = BASE_PACKAGES, architecture: str = "amd64") -> None:
    late = [package for package in extra_packages if package in AFTER_THE_KERNEL]
    packages = ",".join(base_packages + tuple(package for package in extra_packages if package not in late))
    mirror = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)
    argv = [
        "mmdebstrap", "--mode=root", "--variant=apt", "--quiet", f"--include={packages}",
        # Documentation, manuals and translations are a third of the tree and nothing boots from them.
        "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/locale/*",
    ]
    if architecture != "amd64":  # another architecture than this machine's: mmdebstrap checks with arch-test that it runs here
        argv.append(f"--architectures={architecture}")
    argv.append(f"--customize-hook={older_kernel_hook(architecture)}")
    if late:
        argv.append('--customize-hook=chroot "$1" env DEBIAN_FRONTEND=noninteractive '
                    f'apt-get install --yes --no-install-recommends {" ".join(late)}')
    argv += [suite, str(target), mirror]
    log.write_text(run(argv, timeout=1800), encoding="utf-8")


def _configure_pv(spec: PVImageSpec, tree: Path) -> list[str]:
    """Turn the debootstrapped tree into what an EC2 PV instance's root disk looks like."""
    kernels = sorted((path.name.removeprefix("vmlinuz-") for path in (tree / "boot").glob("vmlinuz-*")), key=_version_key, reverse=True)
    if len(kernels) != KERNELS_PER_MACHINE:
        raise RuntimeError(f"expected {KERNELS_PER_MACHINE} kernels in the built tree, found {kernels}")
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
        f"root {'(hd0,0)' if spec.partitioned else '(hd0)'}\n"
        f"kernel /boot/vmlinuz-{kernel} root={spec.root_device} ro console=hvc0 {spec.kernel_args}".rstrip() + "\n"
        f"initrd /boot/initrd.img-{kernel}\n" for kernel in kernels)
    _write(tree / "boot/grub/menu.lst",
           "# PV-GRUB configuration (read by the Xen host, not by a boot loader on this disk)\n"
           "default 0\ntimeout 1\n\n" + entries)
    if spec.network == "ifupdown-eth0":
        _write(tree / "etc/network/interfaces", IFUPDOWN_ETH0)
    if spec.persistent_net_rule:
        _write(tree / "etc/udev/rules.d/70-persistent-net.rules", STALE_PERSISTENT_NET)
    _write(tree / "etc/hostname", "pv2hvm-lab\n")
    _write(tree / "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tpv2hvm-lab\n")
    _write(tree / "etc/resolv.conf", "")  # mmdebstrap copied the build host's
    _write(tree / "etc/machine-id", "")
    if spec.init == "sysvinit":
        _write(tree / "etc/inittab", pv_inittab((tree / "etc/inittab").read_text(encoding="utf-8")))
    else:
        wants = tree / "etc/systemd/system/getty.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "serial-getty@hvc0.service").symlink_to("/lib/systemd/system/serial-getty@.service")
    return kernels


def pv_inittab(inittab: str) -> str:
    """Debian's /etc/inittab as Xen PV guests were set up (xen-tools, the EC2 images of sysvinit days):
    the first getty on the Xen console hvc0 instead of tty1, the other virtual terminals' gettys off (a
    PV guest has no screen)."""
    lines = []
    for line in inittab.splitlines():
        found = re.match(r"^([1-6]):\d+:respawn:.*getty.*\btty([1-6])$", line)
        if found and found.group(2) == "1":
            line = re.sub(r"\btty1$", "hvc0", line)
        elif found:
            line = f"#{line}"
        lines.append(line)
    result = "\n".join(lines) + "\n"
    if len(re.findall(r"(?m)^[^#].*getty.*\bhvc0$", result)) != 1:
        raise RuntimeError(f"the built tree's /etc/inittab has no tty1 getty line to move to hvc0:\n{inittab}")
    return result


def _version_key(version: str) -> tuple[int, ...]:
    """Numeric order of kernel versions (6.12.74+deb12 above 6.1.0-50), enough for the lab's kernels."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def _make_filesystem(spec: PVImageSpec, tree: Path, disk: Path) -> None:
    with open(disk, "wb") as handle:
        handle.truncate(spec.size_mib * 1024 * 1024)
    if spec.partitioned:
        run(["sfdisk", "--quiet", str(disk)], stdin=f"label: dos\nstart={PARTITION_START // 512}, type=83\n")
        with loop_device(disk, partitions=True) as device:
            _populate(spec, tree, f"{device}p1")
    else:
        _populate(spec, tree, str(disk))


def _populate(spec: PVImageSpec, tree: Path, disk: str) -> None:
    """Make the root filesystem on `disk` (a file or a block device) from `tree`, filled as the spec says."""
    if spec.fstype == "ext4":
        # bookworm's mke2fs -d reads a directory, not a tarball. A GRUB 0.97 guest's ext4 is as the
        # e2fsprogs of its time made it (EL6, Amazon Linux 1): GRUB 0.97 reads neither 64-bit group
        # descriptors nor checksummed metadata.
        legacy = ["-O", "^64bit,^metadata_csum"] if spec.boot_loader == "grub-legacy" else []
        run(["mkfs.ext4", "-q", "-F", "-L", spec.label, *legacy, "-d", str(tree), str(disk)])
    else:
        run(["mkfs.xfs", "-q", "-f", "-L", spec.label, str(disk)])
    if spec.fstype == "xfs" or spec.fill_percent:
        with contextlib.ExitStack() as stack:
            device = disk if disk.startswith("/dev/") else stack.enter_context(loop_device(Path(disk)))
            target = stack.enter_context(mounted(device))
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
