# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one exception type the worker-side modules turn into fail_json."""

from __future__ import annotations

from typing import Any


class Pv2hvmError(Exception):
    """A failure to report as is: `msg` says what is wrong and what to do next.

    `details` become extra keys of the failed result (e.g. the command line and its stderr).
    """

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details
