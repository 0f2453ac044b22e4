"""sdgen: follow a scrape-target ConfigMap and write Prometheus file_sd output.

Subpackages follow the data flow, and imports only point down (tests/test_layers.py checks it):
`prom` and `k8s` at the bottom, `cache` and `config` above them, then `resolve`, `output`,
`runtime` and `cli`. docs/architecture.md walks through them.
"""

__version__ = "0.1.0"


class SdgenError(Exception):
    """The base of every error sdgen raises on purpose: its message says what is wrong and,
    where the user can act, what to do. Each command maps these to its exit codes in one
    place (sdgen.cli.commands.EXIT_CODES; `check` has its own, on purpose)."""
