"""A lab region with an EBS data plane, the Debian PV image as a PV AMI, and the migration playbook to run
against it: what the end-to-end migration tests and `make faults` share (root)."""

from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tests.lab.capture import RequestLog
from tests.lab.demo import PLAYBOOK, migration_vars, write_inventory
from tests.lab.endpoint import LabEndpoint
from tests.lab.world import PvImage, launch, register_pv_image, seed_pv_root, tagged_resources
from tests.support.playbooks import PlaybookRun, run_playbook


@dataclass
class MigrationLab:
    lab: LabEndpoint
    work: Path
    pv: PvImage

    @property
    def ec2(self) -> Any:
        return self.lab.client()

    def pv_instance(self, name: str) -> str:
        return launch(self.ec2, self.pv.image_id, name=name)

    def migrate(self, sources: list[str], capture: str = "requests.jsonl", env: dict[str, str] | None = None,
                own_session: bool = False, hosts: dict[str, dict[str, Any]] | None = None, **extra: Any) -> PlaybookRun:
        """Run the migration playbook; `hosts` adds inventory hosts (a source's own host, an SSH worker)."""
        return run_playbook(PLAYBOOK, migration_vars(self.lab, self.work, sources, **extra), env={**self.lab.env(), **(env or {})},
                            capture_file=str(self.work / capture), inventory=write_inventory(self.work, hosts),
                            own_session=own_session)

    def requests(self, capture: str = "requests.jsonl") -> RequestLog:
        return RequestLog.read(str(self.work / capture))

    def report(self, source: str) -> dict[str, Any]:
        return json.loads((self.work / "reports" / f"pv2hvm-{source}.json").read_text(encoding="utf-8"))

    def root_disk_of_image(self, image_id: str) -> Path:
        image = self.ec2.describe_images(ImageIds=[image_id])["Images"][0]
        root = next(m for m in image["BlockDeviceMappings"] if m["DeviceName"] == image["RootDeviceName"])
        return self.lab.ebs.snapshot_file(root["Ebs"]["SnapshotId"])

    def tagged(self, migration_id: str) -> list[str]:
        return tagged_resources(self.ec2, migration_id)


@contextmanager
def migration_lab(pv_disk: Path, work: Path) -> Iterator[MigrationLab]:
    """The lab with the PV image registered as a PV AMI; every loop device and mount is gone afterwards."""
    endpoint = LabEndpoint(data_dir=str(work / "ebs"))
    endpoint.start()
    try:
        pv = register_pv_image(endpoint.client(), name="legacy-web", root_snapshot=seed_pv_root(endpoint, pv_disk), data_volume=False)
        yield MigrationLab(endpoint, work, pv)
    finally:
        endpoint.stop()
        leftover = [line for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines() if str(work) in line]
        for line in reversed(leftover):
            subprocess.run(["umount", "-l", line.split()[1]], check=False)
        if leftover:
            raise AssertionError(f"the migration left mounts behind: {leftover}")
