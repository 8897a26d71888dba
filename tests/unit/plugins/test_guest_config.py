"""The text rules of the guest roles (plugins/plugin_utils/guest_config.py)."""

from __future__ import annotations

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import guest_config as gc

ROOT = "UUID=11111111-2222-3333-4444-555555555555"
FSTAB = (
    "# comment /dev/xvde1\n"
    "/dev/xvde1\t/\text4\tdefaults\t0\t1\n"
    "/dev/sdf  /data  xfs  noatime  0 2\n"
    "/dev/xvdb\t/mnt\tauto\tdefaults,comment=cloudconfig\t0\t2\n"
    "proc /proc proc defaults 0 0\n"
)


def test_fstab_root_and_known_devices_by_id_unknown_get_nofail() -> None:
    plan = gc.fstab_plan(FSTAB, ROOT, {"/dev/xvdf": "LABEL=data"})
    lines = plan["content"].splitlines()
    assert lines[0] == "# comment /dev/xvde1"
    assert lines[1] == f"{ROOT}\t/\text4\tdefaults\t0\t1"
    assert lines[2] == "LABEL=data  /data  xfs  noatime  0 2", "sdf must match its xvdf alias"
    assert lines[3] == "/dev/xvdb\t/mnt\tauto\tdefaults,comment=cloudconfig,nofail\t0\t2"
    assert lines[4] == "proc /proc proc defaults 0 0"
    assert plan["unresolved"] == ["/dev/xvdb"] and len(plan["changes"]) == 3


def test_fstab_is_idempotent_and_replaces_a_stale_root_uuid() -> None:
    once = gc.fstab_plan(FSTAB.replace("/dev/xvde1\t/", "UUID=old\t/"), ROOT, {"/dev/xvdf": "LABEL=data"})
    twice = gc.fstab_plan(once["content"], ROOT, {"/dev/xvdf": "LABEL=data"})
    assert ROOT in once["content"] and "UUID=old" not in once["content"]
    assert twice["content"] == once["content"] and twice["changes"] == []


@pytest.mark.parametrize("policy, expected", [("comment", "# pv2hvm: "), ("keep", "/dev/xvdb\t/mnt")])
def test_fstab_unresolved_policies(policy: str, expected: str) -> None:
    assert gc.fstab_plan(FSTAB, ROOT, {}, policy)["content"].splitlines()[3].startswith(expected)


def test_fstab_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="root_id"):
        gc.fstab_plan(FSTAB, "/dev/xvda1")
    with pytest.raises(ValueError, match="no entry for '/'"):
        gc.fstab_plan("/dev/xvdb /mnt auto defaults 0 0\n", ROOT)


def test_kernel_args_drop_pv_console_and_device_root() -> None:
    result = gc.kernel_args("root=/dev/xvde1 ro console=hvc0 quiet nvme_core.io_timeout=30",
                            ["console=tty0", "console=ttyS0,115200n8", "nvme_core.io_timeout=4294967295"],
                            ["console", "root"])
    assert result == "ro quiet console=tty0 console=ttyS0,115200n8 nvme_core.io_timeout=4294967295"
    assert gc.kernel_args(result, ["console=tty0", "console=ttyS0,115200n8", "nvme_core.io_timeout=4294967295"],
                          ["console", "root"]) == result


def test_menu_lst_kernel_lines() -> None:
    menu = "root (hd0)\nkernel /boot/vmlinuz-4.14 root=/dev/sda1 ro console=hvc0 xencons=tty\n"
    assert gc.menu_lst_hvm(menu, ROOT, ["console=ttyS0,115200n8"]) == (
        f"root (hd0)\nkernel /boot/vmlinuz-4.14 ro xencons=tty root={ROOT} console=ttyS0,115200n8\n")


@pytest.mark.parametrize("files, expected", [
    (("ID=debian\nVERSION_ID=\"12\"\n", "", "", ""), ("Debian", "12")),
    (("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"14.04\"\n", "", "", ""), ("Debian", "14")),
    (("", "", "CentOS release 6.10 (Final)\n", ""), ("RedHat", "6")),
    (("ID=\"centos\"\nVERSION_ID=\"7\"\n", "", "", ""), ("RedHat", "7")),
    (("ID=\"amzn\"\nVERSION_ID=\"2018.03\"\n", "Amazon Linux AMI release 2018.03\n", "", ""), ("Amazon", "1")),
    (("ID=\"amzn\"\nVERSION_ID=\"2\"\n", "", "", ""), ("Amazon", "2")),
    (("", "", "", "6.0.10\n"), ("Debian", "6")),
    (("ID=\"amzn\"\nVERSION_ID=\"2023\"\n", "Amazon Linux release 2023.6.20241212 (Amazon Linux)\n", "", ""), ("Amazon", "2023")),
    (("", "Amazon Linux AMI release 2014.09\n", "", ""), ("Amazon", "1")),
    (("", "", "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n", ""), ("RedHat", "5")),
    (("NAME=\"SLES\"\nID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"12.5\"\n", "", "", ""), ("Suse", "12")),
    (("ID=gentoo\nPRETTY_NAME=\"Gentoo Linux\"\n", "", "", ""), ("", "")),
])
def test_os_identity(files: tuple[str, str, str, str], expected: tuple[str, str]) -> None:
    identity = gc.os_identity(*files)
    assert (identity["family"], identity["major_version"]) == expected


def test_os_identity_names_the_release() -> None:
    assert gc.os_identity("", "", "CentOS release 5.11 (Final)\n")["pretty_name"] == "CentOS release 5.11 (Final)"
    assert gc.os_identity("ID=gentoo\nPRETTY_NAME=\"Gentoo Linux\"\n")["pretty_name"] == "Gentoo Linux"
    assert gc.os_identity("", "", "", "7.11\n")["pretty_name"] == "Debian 7.11"
    assert "no /etc/os-release" in gc.os_identity()["pretty_name"].replace("without", "no")


def test_set_shell_vars_replaces_first_removes_duplicates_and_absent() -> None:
    text = 'GRUB_TIMEOUT=5\n# keep\nGRUB_CMDLINE_LINUX="console=hvc0"\nGRUB_TIMEOUT=7\nGRUB_DISABLE_LINUX_UUID=true\n'
    result = gc.set_shell_vars(text, {"GRUB_TIMEOUT": "1", "GRUB_TERMINAL": "console serial"}, ["GRUB_DISABLE_LINUX_UUID"])
    assert result == 'GRUB_TIMEOUT="1"\n# keep\nGRUB_CMDLINE_LINUX="console=hvc0"\nGRUB_TERMINAL="console serial"\n'
    assert gc.shell_var(text, "GRUB_CMDLINE_LINUX") == "console=hvc0"


def test_readiness_counts_builtin_and_initramfs_drivers() -> None:
    availability = gc.module_availability(
        ["6.1.0-1-cloud-amd64"],
        ["/r/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/block/xen-blkfront.ko",
         "/r/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/net/ethernet/amazon/ena/ena.ko"],
        {"6.1.0-1-cloud-amd64": "kernel/drivers/nvme/host/nvme.ko\nkernel/fs/ext4/ext4.ko\n"},
        ["xen-blkfront", "nvme", "ena", "ext4"])
    listing = "usr/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/block/xen-blkfront.ko\n"
    ready = gc.boot_readiness(["6.1.0-1-cloud-amd64"], availability, {"6.1.0-1-cloud-amd64": listing},
                              f"{ROOT} / ext4 defaults 0 1\n", ROOT,
                              "console=tty0 console=ttyS0,115200n8 nvme_core.io_timeout=4294967295",
                              "nvme_core.io_timeout=4294967295")
    assert ready["per_kernel"]["6.1.0-1-cloud-amd64"] == {
        "xen-blkfront": "initramfs", "nvme": "builtin", "ena": "module", "ext4": "builtin"}
    assert ready["nitro_ready"] and ready["xen_hvm_ready"]
    not_ready = gc.boot_readiness(["6.1.0-1-cloud-amd64"], availability, {}, "/dev/xvde1 / ext4 defaults 0 1\n", ROOT,
                                  "console=hvc0", "nvme_core.io_timeout=4294967295")
    assert not not_ready["xen_blkfront"] and not not_ready["fstab_by_uuid"] and not not_ready["nitro_ready"]


WHOLE_DISK = {"filesystem": {"type": "ext4", "label": "appdata", "uuid": "aaaa-1"}, "partitions": []}
PARTITIONED = {"filesystem": None, "partitions": [
    {"number": 1, "filesystem": {"type": "xfs", "label": None, "uuid": "bbbb-1"}},
    {"number": 2, "filesystem": None},
]}
EMPTY = {"filesystem": None, "partitions": []}


def test_data_volume_ids_name_whole_disks_and_partitions_by_the_source_device() -> None:
    ids = gc.data_volume_ids([WHOLE_DISK, PARTITIONED, EMPTY], ["/dev/sdf", "/dev/sdg", "/dev/sdh"])
    assert ids == {"/dev/sdf": "UUID=aaaa-1", "/dev/sdg1": "UUID=bbbb-1"}, "no id for a partition or disk without a filesystem"
    labels = gc.data_volume_ids([WHOLE_DISK, PARTITIONED], ["/dev/sdf", "/dev/sdg"], "LABEL")
    assert labels == {"/dev/sdf": "LABEL=appdata", "/dev/sdg1": "UUID=bbbb-1"}, "LABEL where there is one, else UUID"


def test_data_volume_ids_resolve_the_xvd_alias_in_fstab() -> None:
    """The mapping says /dev/sdf and /dev/sdg; the PV guest's fstab says /dev/xvdf and /dev/xvdg1."""
    ids = gc.data_volume_ids([WHOLE_DISK, PARTITIONED], ["/dev/sdf", "/dev/sdg"])
    fstab = "/dev/xvde1 / ext4 defaults 0 1\n/dev/xvdf /srv/appdata ext4 defaults 0 2\n/dev/xvdg1 /logs xfs defaults 0 0\n"
    plan = gc.fstab_plan(fstab, ROOT, ids)
    assert plan["content"].splitlines()[1:] == ["UUID=aaaa-1 /srv/appdata ext4 defaults 0 2", "UUID=bbbb-1 /logs xfs defaults 0 0"]
    assert plan["unresolved"] == [] and "nofail" not in plan["content"]


def test_data_volume_ids_refuse_mismatched_input() -> None:
    with pytest.raises(ValueError, match="one source device name per disk"):
        gc.data_volume_ids([WHOLE_DISK], [])
    with pytest.raises(ValueError, match="UUID or LABEL"):
        gc.data_volume_ids([WHOLE_DISK], ["/dev/sdf"], "PARTUUID")


def test_fstab_refuses_a_device_id_that_is_not_an_fstab_id() -> None:
    with pytest.raises(ValueError, match=r"UUID=<uuid>.*/dev/xvdf: 'data'.*pv2hvm_device_ids"):
        gc.fstab_plan(FSTAB, ROOT, {"/dev/xvdf": "data"})


def test_fstab_treats_an_empty_device_id_as_unknown() -> None:
    plan = gc.fstab_plan(FSTAB, ROOT, {"/dev/xvdf": ""})
    assert "/dev/sdf" in plan["unresolved"]
