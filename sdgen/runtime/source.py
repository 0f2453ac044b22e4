"""Where the scrape config text comes from: a ConfigMap key (via an informer) or a local file.

Both sources answer the same questions for the loop: what is the text now (and a version
that changes with it), is it missing and why, has the source synced, is it healthy. The local
file source lives in `localfile`; the ConfigMap source is here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from sdgen.cache.informer import Informer
from sdgen.k8s.records import ConfigMap


@dataclass(frozen=True, slots=True)
class ConfigText:
    """What a config source currently holds. `text` None means missing (`problem` says why)."""

    text: str | None
    origin: str
    version: str = ""
    problem: str = ""


class ConfigSource(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def read(self) -> ConfigText: ...
    def synced(self) -> bool: ...
    def healthy(self) -> bool: ...
    def ensure_alive(self) -> None: ...


def text_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class ConfigMapSource:
    """One key of one ConfigMap, cached by an informer with a field selector on its name."""

    def __init__(self, informer: Informer[ConfigMap], namespace: str, name: str, key: str) -> None:
        self.informer = informer
        self._key = f"{namespace}/{name}"
        self._data_key = key
        self.origin = f"configmap {namespace}/{name} key {key}"

    @property
    def key(self) -> str:
        """`namespace/name` of the ConfigMap."""
        return self._key

    def start(self) -> None:
        self.informer.start()

    def stop(self) -> None:
        self.informer.stop()

    def synced(self) -> bool:
        return self.informer.has_synced()

    def healthy(self) -> bool:
        return True  # its informer's progress is judged with the others'

    def ensure_alive(self) -> None:
        pass

    def configmap(self) -> ConfigMap | None:
        """The ConfigMap as cached now (what its Events regard)."""
        found: ConfigMap | None = self.informer.store.get(self._key)
        return found

    def read(self) -> ConfigText:
        configmap = self.informer.store.get(self._key)
        if configmap is None:
            return ConfigText(None, self.origin, problem=f"ConfigMap {self._key} not found")
        text = configmap.data.get(self._data_key)
        if text is None:
            where = "binaryData" if self._data_key in configmap.binary_data else "data"
            problem = (
                f"ConfigMap {self._key} has no text key {self._data_key!r} in data"
                if where == "data"
                else f"ConfigMap {self._key} key {self._data_key!r} is binaryData, not text"
            )
            return ConfigText(None, self.origin, problem=problem)
        return ConfigText(text, self.origin, text_version(text.encode()))
