"""The only module that imports the `kubernetes` client: cluster config, raw list/watch, and
raw writes of Events.

From the client we take what is hard to get right (kubeconfig and in-cluster config with
service-account token refresh, TLS, proxies: its configured urllib3 pool) and nothing else:
requests are plain GETs whose raw JSON goes to the reflector, never into generated model
objects. HTTP and transport failures become the reflector's typed exceptions, and a watch
stream can be closed from another thread, which is how `stop()` ends a blocked read at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
import urllib3
from kubernetes import client, config

from sdgen import SdgenError
from sdgen.cache.informer import Informer
from sdgen.cache.interner import Interner
from sdgen.cache.reflector import (
    ChangeHandler,
    Query,
    ReadTimeout,
    ReflectorOptions,
    Status,
    TransportError,
    api_error,
)
from sdgen.cache.store import NAMESPACE_INDEX, SERVICE_INDEX, IndexFunc, by_namespace, by_service
from sdgen.k8s.records import (
    ConfigMap,
    EndpointSlice,
    Namespace,
    Pod,
    Record,
    Resource,
    Secret,
    Service,
)

_READ_SIZE = 1 << 16


class NoClusterConfig(SdgenError):
    """Neither in-cluster config nor a kubeconfig is available."""


@dataclass(frozen=True, slots=True)
class ApiResource:
    """Where a resource lives in the API and what it is cached as."""

    resource: Resource
    api_prefix: str
    record_type: type[Record]
    namespaced: bool = True
    indexers: tuple[tuple[str, IndexFunc[Any]], ...] = ((NAMESPACE_INDEX, by_namespace),)

    def path(self, namespace: str | None) -> str:
        if namespace and self.namespaced:
            return f"{self.api_prefix}/namespaces/{quote(namespace, safe='')}/{self.resource}"
        return f"{self.api_prefix}/{self.resource}"


RESOURCES: dict[Resource, ApiResource] = {
    spec.resource: spec
    for spec in (
        ApiResource(Resource.PODS, "/api/v1", Pod),
        ApiResource(Resource.SERVICES, "/api/v1", Service),
        ApiResource(Resource.CONFIGMAPS, "/api/v1", ConfigMap),
        ApiResource(Resource.SECRETS, "/api/v1", Secret),  # only with --materialize-secrets
        ApiResource(Resource.NAMESPACES, "/api/v1", Namespace, namespaced=False, indexers=()),
        ApiResource(
            Resource.ENDPOINTSLICES,
            "/apis/discovery.k8s.io/v1",
            EndpointSlice,
            indexers=((NAMESPACE_INDEX, by_namespace), (SERVICE_INDEX, by_service)),
        ),
    )
}


def api_resource(resource: Resource | str) -> ApiResource:
    """Where `resource` (a `Resource` or its API plural name) lives; a ValueError for a name
    sdgen does not read."""
    try:
        return RESOURCES[Resource(resource)]
    except ValueError:
        known = sorted(r.value for r in RESOURCES)
        raise ValueError(f"unknown resource {resource!r}; known: {known}") from None


def load_api_client(kubeconfig: str | None = None) -> Any:
    """A `kubernetes.client.ApiClient` for, in order: the explicit kubeconfig path, the
    in-cluster service account (its token re-read as it rotates), $KUBECONFIG (a
    `:`-separated list is merged), ~/.kube/config."""
    configuration = client.Configuration()
    if kubeconfig:
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration
            )
        except (config.ConfigException, OSError) as err:
            raise NoClusterConfig(f"kubeconfig {kubeconfig}: {err}") from err
        return client.ApiClient(configuration)
    try:
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration, try_refresh_token=True
        )
        return client.ApiClient(configuration)
    except config.ConfigException as in_cluster_error:
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, client_configuration=configuration
            )
        except (config.ConfigException, OSError) as err:
            raise NoClusterConfig(
                f"not in a cluster ({in_cluster_error}) and no usable kubeconfig ({err})"
            ) from err
    return client.ApiClient(configuration)


class KubeListerWatcher:
    """The reflector's `ListerWatcher` for one resource, in one namespace or all of them."""

    def __init__(
        self,
        api_client: Any,
        resource: Resource | str,
        namespace: str | None = None,
        *,
        connect_timeout: float = 10.0,
    ) -> None:
        self._api = api_client
        self._path = api_resource(resource).path(namespace)
        self._connect_timeout = connect_timeout

    def list(self, query: Query, timeout: float) -> bytes:
        response = self._get(query, timeout)
        try:
            with _mapped_errors():
                return bytes(response.read())
        finally:
            response.release_conn()

    def watch(self, query: Query, timeout: float) -> _WatchStream:
        return _WatchStream(self._get({**query, "watch": "true"}, timeout))

    def _get(self, query: Query, read_timeout: float) -> urllib3.BaseHTTPResponse:
        configuration = self._api.configuration
        headers = _headers(self._api)
        url = f"{configuration.host}{self._path}?{urlencode(query)}"
        timeout = urllib3.Timeout(connect=self._connect_timeout, read=read_timeout)
        with _mapped_errors():
            response: urllib3.BaseHTTPResponse = self._api.rest_client.pool_manager.request(
                "GET", url, headers=headers, timeout=timeout, preload_content=False, retries=False
            )
        if response.status != 200:
            raise _status_error(response)
        return response


def _headers(api_client: Any) -> dict[str, str]:
    """The client's default headers and its credentials (a rotated token re-read)."""
    headers = {**api_client.default_headers, "Accept": "application/json"}
    for auth in api_client.configuration.auth_settings().values():
        if auth["in"] == "header" and auth["value"]:
            headers[auth["key"]] = auth["value"]
    return headers


EVENTS_PREFIX = "/apis/events.k8s.io/v1"


class EventWriter:
    """Creates and patches events.k8s.io/v1 Events: raw JSON requests, like the reads; HTTP
    and transport failures raise the reflector's `ApiError` / `TransportError`."""

    def __init__(self, api_client: Any, timeout: float = 5.0) -> None:
        self._api = api_client
        self._timeout = timeout

    def create(self, namespace: str, body: dict[str, Any]) -> None:
        self._send("POST", self._path(namespace), body, "application/json")

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        path = f"{self._path(namespace)}/{quote(name, safe='')}"
        self._send("PATCH", path, patch, "application/merge-patch+json")

    @staticmethod
    def _path(namespace: str) -> str:
        return f"{EVENTS_PREFIX}/namespaces/{quote(namespace, safe='')}/events"

    def _send(self, method: str, path: str, body: dict[str, Any], content_type: str) -> None:
        headers = {**_headers(self._api), "Content-Type": content_type}
        url = f"{self._api.configuration.host}{path}"
        with _mapped_errors():
            response: urllib3.BaseHTTPResponse = self._api.rest_client.pool_manager.request(
                method,
                url,
                body=msgspec.json.encode(body),
                headers=headers,
                timeout=urllib3.Timeout(total=self._timeout),
                preload_content=False,
                retries=False,
            )
        if response.status >= 300:
            raise _status_error(response)
        try:
            with _mapped_errors():
                response.read()
        finally:
            response.release_conn()


class _WatchStream:
    """Newline-delimited watch events read as they arrive.

    close() may come from another thread while a read is blocked: it only shuts the socket
    down, which wakes the reader; the reader releases the response. Once closed, whatever
    the interrupted read raises simply ends the stream.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._closed = False
        self._reading = False

    def __iter__(self) -> Iterator[bytes]:
        self._reading = True
        try:
            yield from self._lines()
        except Exception:
            if not self._closed:
                raise
        finally:
            self._reading = False
            self._release()

    def _lines(self) -> Iterator[bytes]:
        pending = b""
        with _mapped_errors():
            while not self._closed and (chunk := self._response.read1(_READ_SIZE)):
                *lines, pending = (pending + chunk).split(b"\n")
                yield from lines
        if pending.strip() and not self._closed:
            raise TransportError("watch stream ended in the middle of an event")

    def close(self) -> None:
        self._closed = True
        with suppress(Exception):
            self._response.shutdown()  # wakes a blocked read; closing alone would not
        if not self._reading:
            self._release()

    def _release(self) -> None:
        with suppress(Exception):
            self._response.close()
            self._response.release_conn()


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turns urllib3 and socket failures into the reflector's transport exceptions."""
    try:
        yield
    except urllib3.exceptions.ReadTimeoutError as err:
        raise ReadTimeout(str(err)) from err
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise TransportError(f"{type(err).__name__}: {err}") from err


def _status_error(response: urllib3.BaseHTTPResponse) -> Exception:
    try:
        with _mapped_errors():
            body = response.read()
    finally:
        response.release_conn()
    try:
        status = msgspec.json.decode(body, type=Status)
        message = status.message or status.reason
    except msgspec.DecodeError:
        message = body[:200].decode("utf-8", "replace")
    return api_error(response.status, message, _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the API server sends whole seconds)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def new_informer(
    api_client: Any,
    resource: Resource | str,
    namespace: str | None = None,
    *,
    label_selector: str = "",
    field_selector: str = "",
    on_change: ChangeHandler[Any] | None = None,
    options: ReflectorOptions | None = None,
) -> Informer[Any]:
    """An informer for a resource of `RESOURCES` (by name or `Resource`), named
    `<resource>/<namespace or *>`, with that resource's record type and indexes, whose records
    are shrunk by an interner of its own (equal parts shared) as they arrive."""
    spec = api_resource(resource)
    return Informer(
        f"{spec.resource.value}/{namespace or '*'}",
        spec.record_type,
        KubeListerWatcher(api_client, spec.resource, namespace),
        label_selector=label_selector,
        field_selector=field_selector,
        indexers=dict(spec.indexers),
        on_change=on_change,
        options=options,
        transform=Interner(),
    )
