"""Shared pytest fixtures: the lab EC2 endpoint, and the rule that a skip is a failure."""

from __future__ import annotations

import json
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


def _recorded_seconds() -> dict[str, float]:
    path = REPO_ROOT / "tests" / "durations.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _group(item: pytest.Item) -> str:
    """What runs on one worker: an xdist_group (tests sharing an expensive module fixture), else the test."""
    marker = item.get_closest_marker("xdist_group")
    return f"group:{marker.args[0] if marker.args else marker.kwargs.get('name')}" if marker else item.nodeid


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first, by the seconds tests/durations.json recorded (tests/support/durations.py refreshes it); a test
    it does not know counts by its kind (a migration, a qemu boot, another integration test).

    `make test` runs two xdist workers that take the next group of tests whenever they are free (--dist loadgroup):
    with the long ones started first, the run ends on short ones instead of one worker finishing a long migration
    alone. An xdist_group counts with the sum of its tests and stays together (its module fixture is built once)."""
    recorded = _recorded_seconds()

    def seconds(item: pytest.Item) -> float:
        if item.nodeid in recorded:
            return recorded[item.nodeid]
        if "/integration/migration/" in str(item.path):
            return 300.0
        if item.get_closest_marker("qemu"):
            return 200.0
        return 20.0 if "/integration/" in str(item.path) else 0.0

    weights: dict[str, float] = {}
    for item in items:
        weights[_group(item)] = weights.get(_group(item), 0.0) + seconds(item)
    first_seen = {group: index for index, group in enumerate(dict.fromkeys(_group(item) for item in items))}
    items.sort(key=lambda item: (-weights[_group(item)], first_seen[_group(item)]))
