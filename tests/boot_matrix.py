"""Every claim the suite proves by booting a converted guest: guest shape x bus x method, and the test that proves it.

A claim is either booted by its test, or - on IDE only - covered by the IDE boot of another claim with the same
boot loader and initramfs tool. IDE and NVMe differ in what SeaBIOS reads the MBR from (the boot loader's job) and
in the disk driver the initramfs must bring (ata_piix or nvme: the initramfs tool's generic mode decides that, for
every kernel alike); the filesystem, its fullness, the kernel series and architecture, the init system and the
method that made the image do not depend on the bus. So IDE is booted once per (boot loader, initramfs tool), and
NVMe - what Nitro shows, where PV guests go - for every claim.

tests/unit/test_boot_matrix.py checks that every test named here exists and boots, that every covered claim has a
booted one of the same kind on the same bus, and that README.md's support matrix says "boot-verified" for
exactly the rows here, "IDE and NVMe" only where both buses are claimed.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Kind:
    """What decides whether a boot on one bus says something about another guest's boot on the same bus."""

    boot_loader: str  # grub2-image, grub-legacy
    initramfs: str    # initramfs-tools, dracut


@dataclasses.dataclass(frozen=True)
class Claim:
    shape: str      # the guest, as its PV image spec or user image is described
    readme: str     # the README support-matrix row: the start of its first cell, then " | " and its filesystem
    bus: str        # ide or nvme
    method: str     # convert_image, worker, worker-ssh, ebs_direct (demo: the README's make demo)
    test: str       # path::function of the test that boots it (or, when covered, that makes the image)
    kind: Kind
    booted: bool = True  # False: covered by the booted IDE claim of the same kind


GRUB2_INITRAMFS_TOOLS = Kind("grub2-image", "initramfs-tools")
GRUB2_DRACUT = Kind("grub2-image", "dracut")
GRUB_LEGACY_INITRAMFS_TOOLS = Kind("grub-legacy", "initramfs-tools")

ROW_BOOKWORM = "Debian 12 (bookworm), `linux-image-cloud-amd64` | ext4"
ROW_XFS = "Debian 12 (bookworm) | xfs"
ROW_SYSVINIT = "Debian 12 (bookworm) with sysvinit | ext4"
ROW_DRACUT = "Debian 12 (bookworm) with Debian's `dracut` | xfs"
ROW_BULLSEYE = "Debian 11 (bullseye) | ext4"
ROW_I386 = "Debian 12 (bookworm) i386 | ext4"
ROW_LEGACY = "Debian 12 (bookworm) with `grub-legacy` | ext4"

G = "tests/integration/guest/"
M = "tests/integration/migration/"


def _both(shape: str, readme: str, method: str, test: str, kind: Kind, ide_booted: bool = True) -> list[Claim]:
    return [Claim(shape, readme, "ide", method, test, kind, booted=ide_booted), Claim(shape, readme, "nvme", method, test, kind)]


CLAIMS: list[Claim] = [
    *_both("bookworm ext4, the lab machine", ROW_BOOKWORM, "convert_image", G + "test_convert_image.py::test_converted_image_boots", GRUB2_INITRAMFS_TOOLS),
    Claim("bookworm ext4, several kernels (PV-only, debug) in the image's grub.cfg", ROW_BOOKWORM, "ide", "grub_install role",
          G + "test_kernel_choice.py::test_image_grub_mkconfig_puts_a_newer_kernel_first_and_grub_default_still_boots_the_chosen_one",
          GRUB2_INITRAMFS_TOOLS),
    *_both("bookworm ext4 95 % full, filling 1 GiB", ROW_BOOKWORM, "convert_image",
           G + "test_full_roots.py::test_full_root_converts_with_no_size_set_and_boots", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm ext4 99 % full, filling 1 GiB", ROW_BOOKWORM, "convert_image",
           G + "test_full_roots.py::test_full_root_converts_with_no_size_set_and_boots", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm xfs 95 % full, filling 1 GiB", ROW_XFS, "convert_image",
           G + "test_full_roots.py::test_full_root_converts_with_no_size_set_and_boots", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm xfs 99 % full, filling 1 GiB", ROW_XFS, "convert_image",
           G + "test_full_roots.py::test_full_root_converts_with_no_size_set_and_boots", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm sysvinit", ROW_SYSVINIT, "convert_image",
           G + "test_sysvinit_guest.py::test_sysvinit_guest_gets_a_serial_getty_and_boots_without_systemd", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm xfs with dracut, two kernels", ROW_DRACUT, "convert_image",
           G + "test_dracut_guest.py::test_dracut_guest_gets_the_drivers_into_each_kernels_initramfs_and_boots", GRUB2_DRACUT),
    *_both("bullseye ext4, two 5.10 kernels", ROW_BULLSEYE, "convert_image",
           G + "test_bullseye_guest.py::test_bullseye_guest_converts_and_boots_its_newest_510_kernel", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm i386, two 686-pae kernels", ROW_I386, "convert_image",
           G + "test_i386_guest.py::test_i386_guest_converts_from_an_amd64_host_and_boots_32_bit", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm ext4 with GRUB 0.97, eth0 and a persistent-net rule", ROW_LEGACY, "convert_image",
           G + "test_old_debian_guest.py::test_grub_legacy_guest_converts_the_legacy_way_and_keeps_eth0", GRUB_LEGACY_INITRAMFS_TOOLS),
    *_both("the lab machine with a data volume (make demo)", ROW_BOOKWORM, "worker",
           M + "test_demo.py::test_demo_migrates_the_pv_instance_and_both_boots_pass", GRUB2_INITRAMFS_TOOLS),
    *_both("the lab machine with a data volume (make demo)", ROW_BOOKWORM, "ebs_direct",
           M + "test_demo.py::test_demo_with_the_ebs_direct_method_creates_no_volume_and_its_boot_passes", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("a user's xfs image on /dev/sda1, 90 % full (make demo)", ROW_XFS, "ebs_direct",
           M + "test_demo.py::test_demo_with_a_users_own_image_passes_its_boot", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm xfs 99 % full, filling 1 GiB", ROW_XFS, "worker",
           M + "test_fleet.py::test_three_sources_in_parallel_share_one_worker_and_converge", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    *_both("bookworm ext4 95 % full in a partition filling 1 GiB", ROW_BOOKWORM, "worker",
           M + "test_fleet.py::test_three_sources_in_parallel_share_one_worker_and_converge", GRUB2_INITRAMFS_TOOLS, ide_booted=False),
    Claim("the lab machine", ROW_BOOKWORM, "nvme", "worker-ssh",
          M + "test_ssh_worker.py::test_worker_over_ssh_migrates_and_the_image_boots_on_nvme", GRUB2_INITRAMFS_TOOLS),
    Claim("a fleet of three (i386, xfs 99 %, ext4 partitioned) through one launched worker", ROW_BOOKWORM, "nvme", "worker",
          M + "test_fleet.py::test_three_sources_in_parallel_share_one_worker_and_converge", GRUB2_INITRAMFS_TOOLS),
]

# The claims and the boots before tests/boot_matrix.py existed (issue 25): every claim above was booted.
CLAIMS_BEFORE = 33
BOOTS_BEFORE = 33
