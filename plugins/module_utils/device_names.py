# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EBS device-name translation: pure functions, no I/O.

AWS reports the name given at attach time (`/dev/sdf`); the guest kernel names the disk otherwise:
- Nitro: an NVMe namespace whose controller serial is the volume id without its dash
  (`vol0123...`); udev links it as `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123...`.
- Xen: `sdX` becomes `xvdX`; RHEL/CentOS 6 kernels shift the letter by four (`sda` -> `xvde`,
  `sdf` -> `xvdj`).
"""

from __future__ import annotations

import re
from typing import List

NVME_BY_ID_PREFIX = "nvme-Amazon_Elastic_Block_Store_"
RHEL6_LETTER_SHIFT = 4

_VOLUME_ID = re.compile(r"^vol-([0-9a-f]{8}|[0-9a-f]{17})$")
_SERIAL = re.compile(r"^vol([0-9a-f]{8}|[0-9a-f]{17})$")
# sdf, /dev/sdf, xvdf, /dev/xvdba, sda1 (PV root names carry a partition-like digit)
_DEVICE_NAME = re.compile(r"^(?:/dev/)?(sd|xvd)([a-z]{1,2})([0-9]*)$")


def check_volume_id(volume_id: str) -> str:
    """Return the volume id, or raise ValueError saying what a volume id looks like."""
    if not _VOLUME_ID.match(volume_id or ""):
        raise ValueError(f"{volume_id!r} is not an EBS volume id: expected vol- and 8 or 17 hex digits, e.g. vol-0123456789abcdef0")
    return volume_id


def nvme_serial(volume_id: str) -> str:
    """vol-0123abcd -> vol0123abcd, the serial an NVMe EBS controller reports."""
    return "vol" + check_volume_id(volume_id)[len("vol-"):]


def volume_id_from_serial(serial: str) -> str:
    """vol0123abcd -> vol-0123abcd. Sysfs pads serials with spaces; they are stripped."""
    serial = serial.strip()
    if not _SERIAL.match(serial):
        raise ValueError(f"{serial!r} is not an EBS NVMe serial (expected vol and 8 or 17 hex digits)")
    return "vol-" + serial[len("vol"):]


def nvme_by_id_name(volume_id: str) -> str:
    """The udev by-id link name of an EBS volume on a Nitro instance."""
    return NVME_BY_ID_PREFIX + nvme_serial(volume_id)


def xen_device_names(device_name: str, shifted: bool = False) -> List[str]:
    """Kernel names (without /dev/) a Xen guest may give the volume attached as `device_name`.

    Unshifted kernels use xvdX and, on old Xen setups, keep sdX; a RHEL 6 style kernel
    (`shifted`) uses the letter four places on. Letters past `z` have no shifted name.
    """
    match = _DEVICE_NAME.match(device_name or "")
    if not match:
        raise ValueError(f"{device_name!r} is not an EBS device name: expected e.g. /dev/sdf or /dev/xvdf")
    prefix, letters, digits = match.groups()
    if shifted:
        shifted_letters = shift_letters(letters, RHEL6_LETTER_SHIFT)
        return [f"xvd{shifted_letters}{digits}"] if shifted_letters else []
    names = [f"xvd{letters}{digits}"]
    if prefix == "sd":
        names.append(f"sd{letters}{digits}")
    return names


def shift_letters(letters: str, shift: int) -> str:
    """Shift a one-letter device suffix (`f` + 4 -> `j`); '' when it would pass `z`."""
    if len(letters) != 1 or ord(letters) + shift > ord("z"):
        return ""
    return chr(ord(letters) + shift)
