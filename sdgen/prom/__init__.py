"""Prometheus semantics, exactly as Prometheus implements them: durations, Go's regexp dialect
on RE2, Go's case mapping, and relabeling (`RelabelRule`, validation, the actions, hashmod).

Owns: what Prometheus would compute for a label set or a duration. Pure, no I/O.
May import: no other sdgen package (it is the bottom layer), only the top-level `sdgen`
(its `SdgenError`). See docs/architecture.md.
"""
