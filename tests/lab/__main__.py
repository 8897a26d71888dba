"""Command line for the lab.

    python -m tests.lab serve [--port N] [--env-file FILE]

starts the EC2 endpoint on 127.0.0.1, prints one JSON line with its address and runs
until interrupted (SIGINT/SIGTERM). --env-file writes `export VAR=value` lines that
point any AWS client at it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading

from tests.lab.endpoint import LabEndpoint


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="The pv2hvm lab: a local stand-in for AWS.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the EC2 endpoint on 127.0.0.1 until interrupted")
    serve_parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve_parser.add_argument("--env-file", help="write shell exports for AWS clients to this file")
    serve_parser.set_defaults(func=serve)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
