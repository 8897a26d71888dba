"""Fixtures for the disk-module tests: loop devices that are always torn down."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.loopdev import LoopDevices


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[LoopDevices]:
    """Loop devices on sparse images in tmp_path; unmounted and detached even when the test fails."""
    devices = LoopDevices(tmp_path)
    try:
        yield devices
    finally:
        devices.close()
