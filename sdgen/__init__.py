"""sdgen: follow a scrape-target ConfigMap and write Prometheus file_sd output.

The package is layered so that each layer can be tested on its own: a pure core
(`duration`, `selector`, `model`, `config`, `relabel`, `targets`, `render`) that does no I/O,
informer machinery (`records`, `store`, `reflector`, `informer`) that never imports the
kubernetes client, and a thin shell (`kube`, `files`, `server`, `metrics`, `app`, `cli`).
"""

__version__ = "0.1.0"
