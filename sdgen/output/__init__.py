"""Targets → bytes → disk: file names, rendering, Secret files, and the atomic output directory.

Owns: what sdgen writes and how (write to a temp file, fsync, one rename, write only changed
bytes, remove only what it owns, one writer per directory).
May import: sdgen.prom, sdgen.k8s, sdgen.config, sdgen.resolve. See docs/architecture.md.
"""
