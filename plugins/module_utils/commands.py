# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place that runs external commands on the worker."""

from __future__ import annotations

import os
import shlex
from typing import Callable, Optional, Sequence, Tuple

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError

# Where a missing tool comes from, so the failure says what to install.
PACKAGE_OF = {
    "blkid": "util-linux",
    "blockdev": "util-linux",
    "dd": "coreutils",
    "dumpe2fs": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "e2image": "e2fsprogs",
    "lsblk": "util-linux",
    "mount": "util-linux (mount)",
    "partx": "util-linux",
    "resize2fs": "e2fsprogs",
    "sfdisk": "util-linux (fdisk on Debian/Ubuntu)",
    "tune2fs": "e2fsprogs",
    "umount": "util-linux (mount)",
    "xfs_admin": "xfsprogs",
    "xfs_copy": "xfsprogs",
    "xfs_db": "xfsprogs",
    "xfs_growfs": "xfsprogs",
    "xfs_repair": "xfsprogs",
}

# Tools print messages in the worker's language otherwise, and some of it is parsed.
C_LOCALE = {"LC_ALL": "C", "LANG": "C"}


class CommandError(Pv2hvmError):
    """A command exited with a code its caller does not accept (or could not be started)."""


def run(
    module,
    argv: Sequence[str],
    *,
    ok_rcs: Sequence[int] = (0,),
    data: Optional[str] = None,
    on_start: Optional[Callable[[int], None]] = None,
) -> Tuple[int, str, str]:
    """Run argv (never through a shell) and return (rc, stdout, stderr).

    An exit code outside `ok_rcs` raises CommandError naming the full command line and its stderr.
    `on_start` receives the child's pid as soon as it runs (the progress file watches it).
    """
    argv = [str(arg) for arg in argv]
    executable = _executable(module, argv[0])
    cmdline = shlex.join(argv)
    callback = None
    if on_start is not None:
        def callback(process) -> None:
            on_start(process.pid)
    rc, stdout, stderr = module.run_command(
        [executable] + argv[1:], data=data, environ_update=C_LOCALE,
        expand_user_and_vars=False, before_communicate_callback=callback,
    )
    if rc not in ok_rcs:
        raise CommandError(
            f"`{cmdline}` failed (exit code {rc}): {_last_lines(stderr or stdout)}",
            cmd=cmdline, rc=rc, stdout=stdout, stderr=stderr,
        )
    return rc, stdout, stderr


def _executable(module, name: str) -> str:
    if os.path.isabs(name):
        return name
    path = module.get_bin_path(name, required=False)
    if not path:
        package = PACKAGE_OF.get(name, "the package that provides it")
        raise CommandError(f"`{name}` is not installed on this worker: install {package} and run again.", cmd=name)
    return path


def _last_lines(text: str, count: int = 8) -> str:
    """The tail of a tool's output: where disk tools say what went wrong."""
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "(no output)"
