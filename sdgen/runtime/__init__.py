"""The running sidecar: the loop and what it talks to while it runs.

Owns the loop, split into its jobs:
  wakeup     the change flag every watcher notifies (created first, passed to the watchers)
  scheduler  when to run a cycle: every --interval and debounced after a change, until stop
  cycle      one cycle: read config → ensure informers → resolve → render → write, returning
             a CycleResult; `sdgen once` and `sdgen targets` run it without the scheduler
  board      the status a cycle result updates: /status, /readyz, metrics, state log lines
  liveness   /healthz from the loop's last cycle, the config source and every informer
and what the loop talks to: config sources (`source` for the ConfigMap informer, `localfile`
for a local file, `tenants` for many ConfigMaps by label selector, with its TenantCycle),
Prometheus reloads (`reload`), the ops server (`opsserver`: /metrics, /healthz, /readyz,
/status, /explain, and `page`'s HTML at / and /ui, over `httploop`: bounded connections,
threads and timeouts), sdgen's own metrics (`metrics`) and log setup (`logs`).
May import: every package below it (prom, k8s, cache, config, resolve, output).
See docs/architecture.md.
"""
