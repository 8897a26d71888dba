"""A lab with an EBS data plane and the Debian PV image, for the end-to-end migration tests (root)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.lab import migration
from tests.lab.images import build_pv_image
from tests.lab.migration import MigrationLab


@pytest.fixture(scope="session")
def pv_disk() -> Path:
    """The lab's Debian bookworm PV root disk (built once, cached outside git)."""
    return build_pv_image().disk


@pytest.fixture
def migration_lab(pv_disk: Path, tmp_path: Path) -> Iterator[MigrationLab]:
    """The lab with the PV image registered as a PV AMI; every loop device and mount is gone afterwards."""
    with migration.migration_lab(pv_disk, tmp_path) as lab:
        yield lab
