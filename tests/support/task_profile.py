"""Where a playbook run's time goes: task executions and the slowest tasks of kept JSON results.

    PV2HVM_PLAYBOOK_RESULTS=/tmp/results pytest tests/integration/migration/test_demo.py -k default
    python -m tests.support.task_profile /tmp/results/migrate_pv_to_hvm-*.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable


def task_seconds(result: dict[str, Any]) -> Iterable[tuple[str, str, float]]:
    """(task name, host, seconds) of every task execution a run's JSON result holds, skipped ones included."""
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            duration = task["task"].get("duration", {})
            start, end = duration.get("start"), duration.get("end")
            seconds = (_time(end) - _time(start)) if start and end else 0.0
            for host in task["hosts"]:
                yield task["task"]["name"], host, seconds


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.rstrip("Z")).timestamp()


def main(paths: list[str]) -> None:
    for path in paths:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        executions = list(task_seconds(result))
        per_task: dict[str, float] = defaultdict(float)
        for name, _host, seconds in executions:
            per_task[name] += seconds
        run = [entry for entry in executions if entry]
        print(f"{path}: {len(run)} task executions, {sum(per_task.values()):.0f} s in tasks")
        for name, seconds in sorted(per_task.items(), key=lambda item: -item[1])[:25]:
            print(f"  {seconds:7.1f} s  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
