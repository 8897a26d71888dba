"""Capture the EC2 (and EBS direct) requests a client sends, as the client sends them (botocore event hooks).

In-process: ``with RequestLog.attach(client) as log: ...``. In a module process
(ansible runs each module in its own interpreter): put tests/lab/capture_site on
PYTHONPATH and set PV2HVM_CAPTURE_FILE; every botocore client created in that
process then appends one JSON line per call to the file.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

CAPTURE_ENV = "PV2HVM_CAPTURE_FILE"
_EVENT = "provide-client-params.ec2"
_EBS_EVENT = "provide-client-params.ebs"


class RequestLog:
    """The (operation, params) pairs sent by the clients it is attached to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, json.loads(json.dumps(params, default=str))))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    @classmethod
    @contextmanager
    def attach(cls, client: Any) -> Iterator["RequestLog"]:
        log = cls()
        client.meta.events.register(_EVENT, log.record)
        try:
            yield log
        finally:
            client.meta.events.unregister(_EVENT, log.record)

    @classmethod
    def read(cls, path: str) -> "RequestLog":
        """Load what module processes wrote to a capture file."""
        log = cls()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    entry = json.loads(line)
                    log.calls.append((entry["operation"], entry["params"]))
        return log


_file_lock = threading.Lock()


def _append_to_file(params: dict[str, Any], model: Any, **_: Any) -> None:
    # A block's bytes would make every line 512 KiB; its index and checksum say which block it was.
    entry = {"operation": model.name, "params": {key: value for key, value in params.items() if key != "BlockData"}}
    with _file_lock, open(os.environ[CAPTURE_ENV], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, default=str) + "\n")


def install_from_env() -> None:
    """Hook every botocore session of this process when PV2HVM_CAPTURE_FILE is set."""
    if not os.environ.get(CAPTURE_ENV):
        return
    try:
        import botocore.session
    except ImportError:
        return
    original_init = botocore.session.Session.__init__

    def init_and_hook(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.register(_EVENT, _append_to_file)
        self.register(_EBS_EVENT, _append_to_file)

    botocore.session.Session.__init__ = init_and_hook
