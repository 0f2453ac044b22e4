"""The `sdgen` command line: one subcommand per job.

This module only builds the argument parser and dispatches; `check` lives in `sdgen.cli.check`,
and `run`, `once`, `targets` and `explain` share the assembly in `sdgen.cli.commands`. Every
flag has an `SDGEN_*` environment variable (see `sdgen.cli.settings`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sdgen import __version__
from sdgen.cli import check, commands, diff
from sdgen.cli.settings import (
    LOOP,
    OPS,
    OUTPUT,
    SERVE,
    SNAPSHOT,
    SOURCE,
    TENANTS,
    Flag,
    add_flags,
)

DESCRIPTION = """\
Follow a scrape-target ConfigMap and write Prometheus file_sd output:
targets/<slug>.json (file_sd), relabel/<slug>.yml (metric relabel rules) and
scrape/<slug>.yml (scrape-config fragments for `scrape_config_files`)."""


def _runtime_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    description: str,
    *,
    oneshot: bool,
) -> argparse.ArgumentParser:
    """A subcommand that reads a config and a cluster: run, or the one-shot once/targets."""
    parser = sub.add_parser(name, help=help_text, description=description)
    add_flags(parser, "config source", SOURCE)
    add_flags(parser, "many teams (README: Many teams, one Prometheus)", TENANTS)
    add_flags(parser, "output", OUTPUT)
    if oneshot:
        add_flags(parser, "loop", _named(LOOP, "on-missing-config"))
        add_flags(parser, "operations", _named(OPS, "log-format", "log-level"))
        add_flags(parser, "offline", SNAPSHOT)
    else:
        add_flags(parser, "loop", LOOP)
        add_flags(parser, "operations", OPS)
    # Flags a command does not offer still have their defaults, so the shared assembly in
    # sdgen.cli.commands reads one namespace shape whatever the command.
    offered = {action.dest for action in parser._actions}
    parser.set_defaults(
        tenant=None,  # sdgen explain --tenant
        **{f.dest: f.default for f in (*LOOP, *OPS, *SNAPSHOT) if f.dest not in offered},
    )
    return parser


# The output flags that mean the same for `serve` (no directory, no reload: it serves).
_SERVE_OUTPUT = ("part-size", "keep-meta-labels", "shards")


# A plain argument, like --object, with no SDGEN_* variable: SDGEN_TENANT is `check --tenant`'s
# (a namespace), and one variable must not mean two things.
EXPLAIN_TENANT_HELP = (
    "the tenant ConfigMap (README: Many teams, one Prometheus) whose TARGET is meant: read "
    "from --snapshot when the dump holds it, else from the cluster, with the tenant rules of "
    "--trusted-namespaces and the --tenant-* flags applied as the sidecar applies them"
)


def _named(flags: tuple[Flag, ...], *names: str) -> tuple[Flag, ...]:
    return tuple(flag for flag in flags if flag.name in names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdgen", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"sdgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _runtime_parser(
        sub,
        "run",
        "run the sidecar until SIGTERM",
        "Watch the config and the cluster; re-render every --interval and soon after any "
        "change. Keeps the last good files on any error.",
        oneshot=False,
    )
    run.set_defaults(func=commands.run)

    once = _runtime_parser(
        sub,
        "once",
        "render once and exit (init containers, CI)",
        "Wait for the config and the caches, render and write once, exit 0 when every "
        "target rendered cleanly, 1 otherwise.",
        oneshot=True,
    )
    once.set_defaults(func=commands.once)

    targets = _runtime_parser(
        sub,
        "targets",
        "show what would be discovered, with discovered and final labels",
        "Resolve the targets once and print them (nothing is written).",
        oneshot=True,
    )
    targets.add_argument("--json", action="store_true", help="print JSON instead of a table")
    targets.add_argument(
        "--discovered",
        action="store_true",
        help="also print each target's labels before relabeling",
    )
    targets.add_argument(
        "--shard-plan",
        type=int,
        default=0,
        metavar="N",
        help="instead, print how N shards by namespace would share the targets, with equal "
        "ranges and with the --shard-cuts that balance them",
    )
    targets.set_defaults(func=commands.targets)

    explain = _runtime_parser(
        sub,
        "explain",
        "say why a target scrapes an object, or why not",
        "Resolve one target and show every stage (namespaces, selector, ports, relabel rules, "
        "shard, file) for one object, or the target's funnel without one. Exit 0 when it "
        "writes at least one target, 1 when none, 2 on usage or config errors.",
        oneshot=True,
    )
    explain.add_argument("target", metavar="TARGET", help="the targetName to explain")
    about = explain.add_mutually_exclusive_group()
    about.add_argument(
        "--object",
        metavar="KIND/NAMESPACE/NAME",
        help="a pod, service or endpointslice (kubectl's spellings: po, svc, ...)",
    )
    about.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="the candidates with this address, before or after relabeling",
    )
    explain.add_argument("--tenant", metavar="NAMESPACE/NAME", help=EXPLAIN_TENANT_HELP)
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.set_defaults(func=commands.explain)

    serve = sub.add_parser(
        "serve",
        help="central discovery: discover once, serve every shard's targets over HTTP SD",
        description="Watch the config and the cluster once for --shards N Prometheus shards "
        "and serve each shard's targets (GET /sd/<shard>, /sd/<shard>/<job>, the JSON of "
        "http_sd_configs) and scrape jobs (GET /scrape/<shard>) on --listen.",
    )
    add_flags(serve, "config source", SOURCE)
    add_flags(serve, "central discovery", (*_named(OUTPUT, *_SERVE_OUTPUT), *SERVE))
    add_flags(serve, "loop", _named(LOOP, "interval", "debounce"))
    add_flags(serve, "operations", OPS)
    offered = {action.dest for action in serve._actions}
    serve.set_defaults(
        func=commands.serve,
        tenant=None,
        **{
            f.dest: f.default
            for f in (*OUTPUT, *LOOP, *SNAPSHOT, *TENANTS)  # tenants: not with serve yet
            if f.dest not in offered
        },
    )

    check_parser = sub.add_parser(
        "check",
        help="validate scrape configs, ConfigMap manifests holding one, or directories of them",
        description="Validate scrape configs for a GitOps pre-merge check. Prints "
        "`file:line: path: message` per problem; exit 0 clean, 1 invalid, 2 usage or I/O error.",
    )
    check.add_arguments(check_parser)
    check_parser.set_defaults(func=check.run)

    diff_parser = sub.add_parser(
        "diff",
        help="show what a config change would do to the targets and scrape jobs",
        description="Resolve the current config (the live ConfigMap, --from OLD, or the "
        "ConfigMap in --snapshot) and NEW against the same cluster and print the difference "
        "per target name and scrape job. Exit 0 no change, 1 changes, 2 errors (NEW invalid).",
    )
    diff.add_arguments(diff_parser)
    diff_parser.set_defaults(func=diff.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
