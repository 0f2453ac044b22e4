"""An in-repo Kubernetes API server emulator, served over real HTTP for tests and benchmarks.

No kube-apiserver can be installed on the machines sdgen is built on, so everything sdgen
does against Kubernetes (and what kubectl, the Python client and Prometheus's client-go do) is
exercised against this emulator: list/watch with resourceVersions, pagination, selectors,
bookmarks, sendInitialEvents, writes of every kind, discovery, and fault injection.
"""

from .errors import ApiError
from .server import FakeAPI

__all__ = ["ApiError", "FakeAPI"]
