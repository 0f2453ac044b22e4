"""Keeping the cluster view current: informers (list + watch) into stores of slim records.

Owns: the interner, store, reflector and informer (client-go's tools/cache in small), the API
client (`apiclient`, the only module that imports `kubernetes`), the set of informers a config
needs (`informerset`), and a fixed view from a `kubectl get -o yaml` dump (`snapshot`).
May import: sdgen.prom, sdgen.k8s. See docs/architecture.md.
"""
