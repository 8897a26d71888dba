"""The lab's EBS data plane: the bytes behind the EC2 endpoint's volumes and snapshots.

moto keeps only the state of volumes and snapshots. The data plane follows that state
with one sparse file per volume and per snapshot under its directory:

- CreateVolume: a sparse file of the volume's size, or a copy of the snapshot's file;
- CreateSnapshot: a copy of the volume's file (point in time, crash-consistent);
- AttachVolume to a lab worker: a loop device on the volume's file, and the symlink
  `<dir>/by-id/nvme-Amazon_Elastic_Block_Store_vol<hex>` the Nitro NVMe driver would
  create (block_device's `by_id_dir` points there);
- DetachVolume: the loop device and its partition nodes are removed (refused while any of
  them is mounted, so a leaked mount fails loudly);
- DeleteVolume / DeleteSnapshot: the file is removed.

Requires root (losetup) for attachments to a worker; everything else is plain files.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.lab import fidelity
from tests.lab.fidelity import LabClientError
from tests.lab.system import run

GIB = 1024**3
BY_ID_PREFIX = "nvme-Amazon_Elastic_Block_Store_"


def by_id_name(volume_id: str) -> str:
    """The by-id name of an EBS volume on Nitro: the NVMe serial is the volume id without its dash."""
    return BY_ID_PREFIX + volume_id.replace("-", "")


def copy_sparse(source: Path, destination: Path) -> None:
    """Copy only the allocated extents (a lab volume is mostly holes)."""
    run(["cp", "--sparse=always", str(source), str(destination)])


class EbsDataPlane:
    """Sparse files and loop devices that follow the lab endpoint's EBS state."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.volumes = self.root / "volumes"
        self.snapshots = self.root / "snapshots"
        self.by_id = self.root / "by-id"
        for folder in (self.volumes, self.snapshots, self.by_id):
            folder.mkdir(parents=True, exist_ok=True)
        # Instances whose attachments appear on this machine: registered ones, and any instance
        # launched from a lab worker AMI (so a playbook that launches its own worker works too).
        self.worker_ids: set[str] = set()
        self.worker_image_ids: set[str] = set()
        self.loops: dict[str, str] = {}  # volume id -> /dev/loopN
        self._lock = threading.RLock()

    # ---- files -----------------------------------------------------------------------
    def volume_file(self, volume_id: str) -> Path:
        return self.volumes / f"{volume_id}.img"

    def snapshot_file(self, snapshot_id: str) -> Path:
        return self.snapshots / f"{snapshot_id}.img"

    def volume_created(self, volume: Any) -> None:
        path = self.volume_file(volume.id)
        source = self.snapshot_file(volume.snapshot_id) if volume.snapshot_id else None
        if source is not None and source.exists():
            copy_sparse(source, path)
        with open(path, "ab") as handle:
            handle.truncate(volume.size * GIB)

    def snapshot_created(self, snapshot: Any) -> None:
        volume_path = self.volume_file(snapshot.volume.id)
        if volume_path.exists():
            copy_sparse(volume_path, self.snapshot_file(snapshot.id))

    def volume_deleted(self, volume_id: str) -> None:
        self.volume_file(volume_id).unlink(missing_ok=True)

    def snapshot_deleted(self, snapshot_id: str) -> None:
        self.snapshot_file(snapshot_id).unlink(missing_ok=True)

    def write_image(self, volume_id: str, image: Path) -> None:
        """Put a raw disk image's bytes on a volume (how the lab seeds a PV source)."""
        path = self.volume_file(volume_id)
        size = path.stat().st_size
        if image.stat().st_size > size:
            raise ValueError(f"{image} ({image.stat().st_size} bytes) does not fit on {volume_id} ({size} bytes)")
        copy_sparse(image, path)
        with open(path, "ab") as handle:
            handle.truncate(size)

    # ---- attachments -----------------------------------------------------------------
    def is_worker(self, instance: Any) -> bool:
        return instance.id in self.worker_ids or instance.image_id in self.worker_image_ids

    def volume_attached(self, volume_id: str, instance: Any) -> None:
        if not self.is_worker(instance):
            return
        with self._lock:
            loop = run(["losetup", "--find", "--show", str(self.volume_file(volume_id))]).strip()
            self.loops[volume_id] = loop
            link = self.by_id / by_id_name(volume_id)
            link.unlink(missing_ok=True)
            link.symlink_to(loop)

    def volume_detaching(self, volume_id: str) -> None:
        with self._lock:
            loop = self.loops.get(volume_id)
            if loop is None:
                return
            mounted = mounts_of(loop)
            if mounted:
                raise LabClientError(
                    "IncorrectState",
                    f"lab: {volume_id} is {loop} on the worker and {', '.join(mounted)} is still mounted; unmount before detaching.",
                )
            self.release(volume_id)

    def release(self, volume_id: str) -> None:
        loop = self.loops.pop(volume_id)
        (self.by_id / by_id_name(volume_id)).unlink(missing_ok=True)
        subprocess.run(["partx", "-d", loop], capture_output=True, check=False)  # partition nodes disk_clone added
        run(["losetup", "-d", loop])

    def device_of(self, volume_id: str) -> str:
        return self.loops[volume_id]

    def close(self) -> None:
        """Detach every loop device and remove every file, whatever state the test left."""
        with self._lock:
            for volume_id in list(self.loops):
                loop = self.loops[volume_id]
                for mountpoint in reversed(mounts_of(loop)):
                    subprocess.run(["umount", "-l", mountpoint.split(" on ", 1)[1]], capture_output=True, check=False)
                self.release(volume_id)
        shutil.rmtree(self.root, ignore_errors=True)


def mounts_of(loop: str) -> list[str]:
    """'<device> on <mountpoint>' for the loop device and its partitions, from /proc/mounts."""
    found = []
    with open("/proc/mounts", encoding="utf-8") as handle:
        for line in handle:
            device, mountpoint = line.split()[:2]
            if device == loop or device.startswith(loop + "p"):
                found.append(f"{device} on {mountpoint}")
    return found


def size_in_gib(path: Path) -> int:
    return max(1, math.ceil(path.stat().st_size / GIB))


def follow(plane: EbsDataPlane) -> None:
    """Make `plane` follow this process's moto EBS state (through the fidelity layer), and hold the
    bytes the EBS direct APIs read and write."""
    from tests.lab import ebs_direct  # pylint: disable=import-outside-toplevel

    fidelity.observe(plane)
    ebs_direct.serve(plane)


def unfollow(plane: EbsDataPlane) -> None:
    from tests.lab import ebs_direct  # pylint: disable=import-outside-toplevel

    fidelity.unobserve(plane)
    ebs_direct.unserve(plane)
