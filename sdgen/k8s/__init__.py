"""Kubernetes objects and the read-only view of a cluster that resolution reads.

Owns: the slim records decoded from API JSON, label selectors, the meta labels of Prometheus's
`kubernetes_sd_configs` (roles pod and endpointslice), and the `Cluster` view with its identity
contract (an unchanged mapping is the same object), plus `ClusterNeeds`. Pure, no I/O.
May import: sdgen.prom. See docs/architecture.md.
"""
