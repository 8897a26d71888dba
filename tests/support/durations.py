"""Refresh tests/durations.json, the seconds each test took, from the output of a `--durations=0` run.

    make pytest PYTEST_ARGS=--durations=0 > run.log; python -m tests.support.durations run.log

tests/conftest.py starts the longest tests (and xdist groups) first with it, so that the two workers of
`make test` end together; the numbers only order the run, nothing is timed against them.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"
LINE = re.compile(r"^([0-9.]+)s (?:setup|call|teardown)\s+(\S.*)$")
KEPT_FROM = 1.0  # seconds; shorter tests only fill gaps, their order does not matter


def read(log: str) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = LINE.match(line.strip())
        if match:
            seconds[match.group(2).strip()] += float(match.group(1))
    return {test: round(total, 1) for test, total in sorted(seconds.items()) if total >= KEPT_FROM}


def main(path: str) -> None:
    found = read(Path(path).read_text(encoding="utf-8", errors="replace"))
    if not found:
        sys.exit(f"{path}: no durations (run pytest with --durations=0)")
    DURATIONS.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{DURATIONS}: {len(found)} tests, {sum(found.values()):.0f} s")


if __name__ == "__main__":
    main(sys.argv[1])
