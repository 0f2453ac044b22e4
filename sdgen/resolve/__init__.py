"""Config and cluster view → the scrape targets Prometheus would build, relabeled and sharded.

Owns: which namespaces and objects a target selects (scope, selection), the candidates with
their meta and standard labels, the per-candidate pipeline (relabel, defaults, validity,
shard), each endpoint's sorted target set, the long-lived `Resolver` that redoes only
what changed, each target's funnel counts kept as it works (`funnel`), the lint warnings a
resolution shows (`lint`), and `explain`: why a target scrapes an object or not, stage by
stage. Pure, no I/O. May import: sdgen.prom, sdgen.k8s, sdgen.config.
See docs/architecture.md.
"""
