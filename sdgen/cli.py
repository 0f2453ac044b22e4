"""The `sdgen` command line: one subcommand per job, each implemented in its own module.

This module only builds the argument parser and dispatches; subcommand modules expose
`add_arguments(parser)` and `run(args) -> int` (the process exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sdgen import __version__, check


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdgen",
        description="Follow a scrape-target ConfigMap and write Prometheus file_sd output.",
    )
    parser.add_argument("--version", action="version", version=f"sdgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check_parser = sub.add_parser(
        "check",
        help="validate scrape configs, ConfigMap manifests holding one, or directories of them",
        description="Validate scrape configs for a GitOps pre-merge check. Prints "
        "`file:line: path: message` per problem; exit 0 clean, 1 invalid, 2 usage or I/O error.",
    )
    check.add_arguments(check_parser)
    check_parser.set_defaults(func=check.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
