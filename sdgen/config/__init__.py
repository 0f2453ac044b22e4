"""The scrape config: text → `Config`, every problem an `Issue` with its field path and line.

Owns: the config model, safe YAML composition, the typed field reader, the layout, target,
endpoint and auth sections, and finding a config inside ConfigMap manifests. Never raises on
bad input. Pure, no I/O. May import: sdgen.prom, sdgen.k8s. See docs/configuration.md.
"""
