"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only).

It records the EC2 calls of module processes; see tests/lab/capture.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
from tests.lab.capture import install_from_env  # noqa: E402  pylint: disable=wrong-import-position

install_from_env()
