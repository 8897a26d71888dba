"""Shared pytest fixtures: the lab EC2 endpoint, and the rule that a skip is a failure."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_PATH = REPO_ROOT / ".build" / "collections"

# `make setup` links the checkout as ansible_collections/cloudops/pv2hvm under .build/collections.
if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_PATH))

from tests.lab.endpoint import LabEndpoint  # noqa: E402  pylint: disable=wrong-import-position

STOCK_MOTO_ENV = "PV2HVM_LAB_STOCK_MOTO"


@pytest.fixture(scope="session")
def lab() -> Iterator[LabEndpoint]:
    """One lab EC2 endpoint per test process (each xdist worker has its own)."""
    endpoint = LabEndpoint(stock_moto=os.environ.get(STOCK_MOTO_ENV) == "1")
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def ec2(lab: LabEndpoint) -> Any:
    """A boto3 EC2 client on a freshly reset lab endpoint."""
    lab.reset()
    return lab.client()


@pytest.fixture
def lab_ebs(tmp_path: Path) -> Iterator[LabEndpoint]:
    """A lab endpoint of the test's own whose volumes and snapshots hold bytes (sparse files under tmp_path)."""
    endpoint = LabEndpoint(data_dir=str(tmp_path / "ebs"))
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is not a passing test: make the run fail and say which ones skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped:
        reporter.write_line(f"{len(skipped)} test(s) skipped; a skipped gate counts as failed.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest kinds first: whole migrations, then qemu boots, then the rest (collection order within each).

    `make test` runs two xdist workers that steal queued tests from each other; with the long tests
    started first, the run ends on short ones instead of one worker finishing a long migration alone."""
    def weight(item: pytest.Item) -> int:
        if "/integration/migration/" in str(item.path):
            return 0
        if item.get_closest_marker("qemu"):
            return 1
        return 2

    items.sort(key=weight)
