"""Command line for the lab.

    python -m tests.lab serve [--port N] [--env-file FILE]

starts the EC2 endpoint on 127.0.0.1, prints one JSON line with its address and runs
until interrupted (SIGINT/SIGTERM). --env-file writes `export VAR=value` lines that
point any AWS client at it.

    python -m tests.lab pv-image [--fstype ext4|xfs] [--root-device /dev/xvde1|/dev/sda1] [--size-mib N]
                                 [--fill-percent P] [--rebuild]

builds (as root, or takes from the cache) a PV-style Debian root disk image and prints one JSON
line with its paths (see tests/lab/images.py).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading

from tests.lab.endpoint import LabEndpoint
from tests.lab.images import PVImageSpec


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LabEndpoint(port=args.port) as lab:
        if args.env_file:
            with open(args.env_file, "w", encoding="utf-8") as handle:
                for key, value in lab.env().items():
                    handle.write(f"export {key}={shlex.quote(value)}\n")
        print(json.dumps({"endpoint_url": lab.url, **lab.module_params()}), flush=True)
        stop.wait()
    return 0


def pv_image(args: argparse.Namespace) -> int:
    from tests.lab.images import build_pv_image  # pylint: disable=import-outside-toplevel

    spec = PVImageSpec(fstype=args.fstype, root_device=args.root_device, size_mib=args.size_mib, fill_percent=args.fill_percent)
    image = build_pv_image(spec, rebuild=args.rebuild)
    print(json.dumps({
        "disk": str(image.disk), "kernel": str(image.kernel), "initrd": str(image.initrd),
        "kernel_version": image.kernel_version, "kernel_versions": list(image.kernel_versions),
        "fs_uuid": image.fs_uuid, "fstype": image.spec.fstype,
        "root_device": image.spec.root_device, "cached": image.cached, "build_seconds": image.build_seconds,
    }), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="The pv2hvm lab: a local stand-in for AWS.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the EC2 endpoint on 127.0.0.1 until interrupted")
    serve_parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve_parser.add_argument("--env-file", help="write shell exports for AWS clients to this file")
    serve_parser.set_defaults(func=serve)
    image_parser = commands.add_parser("pv-image", help="build or reuse the cached PV test image; print its paths")
    image_parser.add_argument("--fstype", choices=("ext4", "xfs"), default="ext4")
    image_parser.add_argument("--root-device", choices=("/dev/xvde1", "/dev/sda1"), default="/dev/xvde1")
    image_parser.add_argument("--size-mib", type=int, default=PVImageSpec.size_mib,
                              help="size of the filesystem (the volume it fills: a multiple of 1024 fills whole GiB)")
    image_parser.add_argument("--fill-percent", type=int, default=0, help="fill the filesystem to this percentage")
    image_parser.add_argument("--rebuild", action="store_true", help="build again even if cached")
    image_parser.set_defaults(func=pv_image)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
