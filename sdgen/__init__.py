"""sdgen: follow a scrape-target ConfigMap and write Prometheus file_sd output.

Subpackages follow the data flow, and imports only point down (tests/test_layers.py checks it):
`prom` and `k8s` at the bottom, `cache` and `config` above them, then `resolve`, `output`,
`runtime` and `cli`. docs/architecture.md walks through them.
"""

__version__ = "0.1.0"
