"""The running sidecar: the loop and what it talks to while it runs.

Owns: the render loop, config sources (ConfigMap informer, local file), Prometheus reloads,
the ops server (/metrics, /healthz, /readyz, /status), sdgen's own metrics and log setup.
May import: every package below it (prom, k8s, cache, config, resolve, output).
See docs/architecture.md.
"""
