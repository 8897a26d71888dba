"""The lab's EC2 endpoint: moto's server, in this process, on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.lab import faults, fidelity

LAB_REGION = "us-east-1"
LAB_ACCESS_KEY = "AKIAPV2HVMLAB0000000"
LAB_SECRET_KEY = "pv2hvm-lab-secret-not-a-real-key"


class LabEndpoint:
    """A moto server with the fidelity extension, bound to a free port on 127.0.0.1."""

    def __init__(self, port: int = 0, stock_moto: bool = False, data_dir: str | None = None) -> None:
        self._port = port
        # With a data_dir, volumes and snapshots hold bytes (tests/lab/ebs.py); root needed to attach.
        self._data_dir = data_dir
        self.ebs: Any = None
        # Only for proving that the fidelity tests catch stock moto; never a fallback.
        self._stock_moto = stock_moto
        self._server: Any = None
        self.url = ""
        # API faults a test arms (tests/lab/faults.py); none unless armed.
        self.faults = faults.FAULTS

    def start(self) -> "LabEndpoint":
        # Stock moto seeds thousands of public AMIs per region; the lab needs none.
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
        if self._stock_moto:
            if fidelity.installed():
                raise fidelity.LabFidelityError("stock moto was asked for, but this process already patched moto")
            sys.stderr.write("pv2hvm lab: the fidelity extension is DISABLED (stock moto)\n")
        else:
            fidelity.install()
        faults.install()
        self.faults.clear()
        # One access-log line per request drowns test output; errors still show.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        if self._data_dir:
            from tests.lab import ebs  # pylint: disable=import-outside-toplevel

            self.ebs = ebs.EbsDataPlane(Path(self._data_dir))
            ebs.follow(self.ebs)
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto's backends live in this process: a new endpoint starts from an empty region.
        self.reset()
        return self

    def stop(self) -> None:
        self.faults.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.ebs is not None:
            from tests.lab import ebs  # pylint: disable=import-outside-toplevel

            ebs.unfollow(self.ebs)
            self.ebs.close()
            self.ebs = None

    def go_down(self) -> None:
        """The endpoint stops answering - every new connection is refused, as when the network or AWS is
        gone - and keeps every resource (moto's backends live in this process). A request in flight is answered."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def come_back(self) -> None:
        """The endpoint answers again, at the same URL, with everything it held."""
        from moto.server import ThreadedMotoServer  # pylint: disable=import-outside-toplevel

        if self._server is None:
            host, port = self.url.removeprefix("http://").rsplit(":", 1)
            self._server = ThreadedMotoServer(ip_address=host, port=int(port), verbose=False)
            self._server.start()

    def reset(self) -> None:
        """Forget every resource (moto's own reset API)."""
        from tests.lab import ebs_direct  # pylint: disable=import-outside-toplevel

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        ebs_direct.reset()

    def env(self) -> dict[str, str]:
        """Environment for any AWS client (boto3, ansible) that must talk to the lab only.

        AWS_ENDPOINT_URL makes every botocore client use the lab even if a caller forgets
        endpoint_url, and the config/credential files are blanked so no real profile leaks in.
        """
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": LAB_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LAB_SECRET_KEY,
            "AWS_DEFAULT_REGION": LAB_REGION,
            "AWS_REGION": LAB_REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            # The lab's resources change state at once: poll them often, not at AWS's 5-15 s (waiters.py).
            "PV2HVM_WAITER_DELAY_SECONDS": "0.2",
        }

    def module_params(self) -> dict[str, str]:
        """The AnsibleAWSModule options that point a module at the lab."""
        return {
            "endpoint_url": self.url,
            "region": LAB_REGION,
            "access_key": LAB_ACCESS_KEY,
            "secret_key": LAB_SECRET_KEY,
        }

    def client(self, service: str = "ec2", region: str = LAB_REGION) -> Any:
        return lab_session(region).client(service, endpoint_url=self.url)

    def __enter__(self) -> "LabEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_loader: Any = None


def lab_session(region: str = LAB_REGION) -> Any:
    """A boto3 session with the lab's credentials. Every session of the test process shares one botocore
    data loader, which parses each service model once (EC2's takes a third of a second) instead of once
    per client."""
    global _loader  # pylint: disable=global-statement
    import boto3
    import botocore.loaders
    import botocore.session

    if _loader is None:
        _loader = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _loader)
    return boto3.session.Session(aws_access_key_id=LAB_ACCESS_KEY, aws_secret_access_key=LAB_SECRET_KEY,
                                 region_name=region, botocore_session=core)
