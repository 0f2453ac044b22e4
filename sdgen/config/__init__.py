"""The scrape config: text → `Config`, every problem an `Issue` with its field path and line.

Owns: the config model and its defaults (model), safe YAML composition (yamlnode), the typed
field reader (reader), one module per section, each a set of functions over that one reader
(document: layouts, defaults and the target list; target, endpoint, auth, rules, selectors),
the local files credentials may name (filepaths), re-parsing only the targets an edit
changed (incremental), finding a config inside ConfigMap manifests (manifest), and the rules
a tenant's config is held to (tenancy). Never raises on bad input. Pure, no I/O. May import:
sdgen.prom, sdgen.k8s. See docs/configuration.md.
"""
