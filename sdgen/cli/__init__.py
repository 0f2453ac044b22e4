"""The command line: argv → wiring → exit code.

Owns: the argument parser and every flag's environment variable, the wiring of a sidecar from
flags, the commands (`run`, `once`, `targets`, `explain`, `check`) and their reports and exit
codes.
May import: every other package (prom, k8s, cache, config, resolve, output, runtime).
See docs/architecture.md, and the README for the flags.
"""
