"""Many teams, one Prometheus: every ConfigMap a label selector matches is a tenant (README,
"Many teams, one Prometheus").

`TenantSource` follows the ConfigMaps (`--configmap-selector`, in `--configmap-namespaces` or
cluster-wide) and, when `--configmap` is given too, that ConfigMap as the trusted platform
config. `TenantCycle` is a `Cycle` whose config is all of them merged: each tenant's text is
parsed on its own, its tenant rules applied (sdgen.config.tenancy) and its targets named after
it (`<namespace>/<ConfigMap>/<targetName>`), so the merged targets resolve, render and write
as one config into one output directory, sharing the cluster caches, and no two tenants share
a file or a scrape job. The platform config keeps its targets' names, as without a selector.

Fault isolation: a tenant whose config is unusable, or whose ConfigMap is gone (with
`--on-missing-config=keep`), adds no target and holds its last good files, found by the names
of its last usable config; the other tenants render as usual. A tenant unusable since sdgen
started has no known names: then no file at all is removed (new files are still written)
until it is readable, so nothing it wrote before is lost; so too while the platform ConfigMap
is missing since sdgen started, with `--on-missing-config=keep`. `--tenant-max-targets`: a tenant's
targets are counted in config order, and a target that would take its tenant over the limit
is held (no new files, its last good ones kept) with an error in its status.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sdgen.cache.informer import Informer
from sdgen.config.document import parse_config
from sdgen.config.model import Config, Issue, Target
from sdgen.config.tenancy import Tenant, TenantPolicy, apply_tenancy, qualified
from sdgen.k8s.records import ConfigMap
from sdgen.output import naming
from sdgen.resolve.explain import ExplainError
from sdgen.resolve.lint import Linter
from sdgen.resolve.resolver import EndpointTargets, Resolution
from sdgen.resolve.scope import needs
from sdgen.runtime.cycle import (
    ClusterSource,
    ConfigStatus,
    Cycle,
    OnMissingConfig,
    Options,
    Output,
    Reading,
    log_loaded,
)
from sdgen.runtime.source import ConfigMapSource, ConfigSource, ConfigText, text_version

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TenantText:
    """One followed ConfigMap's text now; `platform`: the trusted --configmap."""

    tenant: Tenant
    text: ConfigText
    platform: bool = False


class TenantTexts(ConfigSource, Protocol):
    """What TenantCycle reads: every tenant's text now, and where they come from."""

    origin: str

    def texts(self) -> dict[str, TenantText]: ...


class TenantSource:
    """The tenant ConfigMaps (informers with a label selector, one per namespace or one
    cluster-wide) and the optional platform ConfigMap. Synced when the tenant informers are:
    a platform ConfigMap that does not exist is not waited for."""

    def __init__(
        self,
        informers: Iterable[Informer[ConfigMap]],
        key: str,
        trusted: Iterable[str] = (),
        platform: ConfigMapSource | None = None,
        selector: str = "",
    ) -> None:
        self.informers = list(informers)
        self.platform = platform
        self._key = key
        self._trusted = frozenset(trusted)
        self.origin = f"configmaps selected by {selector!r} key {key}"
        if platform is not None:
            self.origin += f", and {platform.origin}"

    def start(self) -> None:
        for informer in self.all_informers():
            informer.start()

    def stop(self) -> None:
        for informer in self.all_informers():
            informer.stop()

    def all_informers(self) -> list[Informer[Any]]:
        platform = [self.platform.informer] if self.platform is not None else []
        return [*self.informers, *platform]

    def synced(self) -> bool:
        return all(informer.has_synced() for informer in self.all_informers())

    def healthy(self) -> bool:
        return True  # the informers' progress is judged with the others'

    def ensure_alive(self) -> None:
        pass

    def read(self) -> ConfigText:
        """What the loop's ConfigSource protocol asks; TenantCycle reads `texts` instead."""
        return ConfigText(None, self.origin, problem="read per tenant")

    def texts(self) -> dict[str, TenantText]:
        """Every followed ConfigMap by `namespace/name`; the platform one once, as the
        platform, even when the selector matches it too."""
        found: dict[str, TenantText] = {}
        for informer in self.informers:
            for configmap in informer.store.snapshot():
                meta = configmap.metadata
                tenant = Tenant(meta.namespace, meta.name, meta.namespace in self._trusted)
                found[tenant.key] = TenantText(tenant, self._text(configmap, tenant.key))
        if self.platform is not None:
            text = self.platform.read()
            namespace, name = self.platform.key.split("/", 1)
            found[self.platform.key] = TenantText(Tenant(namespace, name, True), text, True)
        return found

    def configmap_of(self, target: str) -> ConfigMap | None:
        """The followed ConfigMap, as cached now, that a (qualified) target name comes from:
        `<namespace>/<name>/...` of a tenant, else the platform's."""
        namespace, _, rest = target.partition("/")
        key = f"{namespace}/{rest.partition('/')[0]}"
        for informer in self.informers:
            found: ConfigMap | None = informer.store.get(key)
            if found is not None and (self.platform is None or key != self.platform.key):
                return found
        return self.platform.configmap() if self.platform is not None else None

    def _text(self, configmap: ConfigMap, key: str) -> ConfigText:
        origin = f"configmap {key} key {self._key}"
        text = configmap.data.get(self._key)
        if text is None:
            return ConfigText(None, origin, problem=f"ConfigMap {key} has no key {self._key!r}")
        return ConfigText(text, origin, text_version(text.encode()))


class DumpedTenant:
    """One tenant ConfigMap's text read from a cluster dump (`sdgen explain --tenant` with
    `--snapshot`): synced from the start, never changes."""

    def __init__(self, found: TenantText) -> None:
        self._texts = {found.tenant.key: found}
        self.origin = found.text.origin

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def synced(self) -> bool:
        return True

    def healthy(self) -> bool:
        return True

    def ensure_alive(self) -> None:
        pass

    def read(self) -> ConfigText:
        return ConfigText(None, self.origin, problem="read per tenant")

    def texts(self) -> dict[str, TenantText]:
        return dict(self._texts)


@dataclass
class _TenantState:
    """What the cycle keeps of one tenant between cycles."""

    tenant: Tenant
    platform: bool
    version: str = ""  # of the text last parsed
    config: Config | None = None  # the last parse, rules applied and names qualified
    status: ConfigStatus = field(default_factory=ConfigStatus)
    names: frozenset[str] = frozenset()  # the targets of its last usable config: its files
    known: bool = False  # it had a usable config since sdgen started (`names` are its files)
    present: bool = True  # its ConfigMap and key exist

    @property
    def usable(self) -> bool:
        return self.present and self.config is not None and self.config.usable


class TenantCycle(Cycle):
    """A Cycle over the merged config of every tenant (see the module docstring)."""

    def __init__(
        self,
        source: TenantTexts,
        clusters: ClusterSource | None,
        output: Output,
        options: Options,
        policy: TenantPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(source, clusters, output, options, **kwargs)
        self.tenant_source = source
        self.policy = policy
        self._tenants: dict[str, _TenantState] = {}
        self._linters: dict[str, Linter] = {}  # per tenant: warnings located in its text

    def read(self) -> Reading:
        source = self.tenant_source
        if not source.synced():
            return Reading(self._status, waiting_for="config source not synced yet")
        loaded = False
        texts = source.texts()
        for key, found in texts.items():
            state = self._tenants.get(key)
            if state is None:
                state = self._tenants[key] = _TenantState(found.tenant, found.platform)
            loaded |= self._update(state, found)
        for key in self._tenants.keys() - texts.keys():  # its ConfigMap is gone
            state = self._tenants[key]
            problem = f"ConfigMap {key} not found"
            state.present, state.status = (
                False,
                ConfigStatus(state.status.origin, "", False, (problem,)),
            )
        if not self._keeps_missing():
            self._tenants = {k: s for k, s in self._tenants.items() if s.present or k in texts}
        merged, self.hold_all = self._merged()
        version = _version(self._tenants.values())
        self._status = ConfigStatus(
            origin=source.origin,
            version=version,
            valid=all(s.status.valid for s in self._tenants.values()),
            issues=tuple(i for s in self._tenants.values() for i in s.status.issues),
        )
        self._parsed = (version, merged)  # for explain: the merged targets, by their names
        tenants = {key: s.status for key, s in sorted(self._tenants.items())}
        reading = Reading(self._status, loaded=merged if loaded else None, tenants=tenants)
        if self.clusters is not None:
            self.clusters.ensure(needs(merged, self.options.default_namespace))
            if not self.clusters.synced():
                return replace(reading, waiting_for="informers not synced yet")
        return replace(reading, config=merged)

    def resolve(self, config: Config) -> Resolution:
        resolution = super().resolve(config)
        if self.policy.max_targets is None:
            return resolution
        return over_limit(resolution, config, self._tenant_of, self.policy.max_targets)

    def lint(self, config: Config, resolution: Resolution) -> tuple[str, ...]:
        """Each usable tenant's lint warnings, located in its own text (duplicate scrapes are
        found within a tenant, not across tenants)."""
        by_target: dict[str, list[EndpointTargets]] = {}
        for et in resolution.endpoints:
            by_target.setdefault(et.target.name, []).append(et)
        found: list[str] = []
        used: dict[str, Linter] = {}
        for key, state in sorted(self._tenants.items()):
            own = state.config
            if not state.usable or own is None:
                continue
            linter = used[key] = self._linters.get(key) or Linter()
            endpoints = tuple(et for t in own.targets for et in by_target.get(t.name, ()))
            funnels = {t.name: f for t in own.targets if (f := resolution.funnels.get(t.name))}
            part = Resolution(endpoints, {}, (), funnels)
            found.extend(issue.format(state.status.origin) for issue in linter(own, part))
        self._linters = used
        return tuple(found)

    def target_named(self, config: Config, target: str, tenant: str | None) -> str:
        """The merged config's name of `target` of `tenant` (`namespace/name`; the platform's
        keep their names). Without a tenant, a name of the merged config, else the one
        tenant's target of that name; an ExplainError naming the tenants when several have
        one, or when the tenant is unknown or has no usable config."""
        if tenant is not None:
            state = self._tenants.get(tenant)
            if state is None:
                known = ", ".join(sorted(self._tenants)) or "none"
                raise ExplainError(
                    f"no tenant ConfigMap {tenant!r}: not found, or not selected by "
                    f"--configmap-selector; tenants: {known}"
                )
            if not state.usable:
                why = "; ".join(state.status.issues) or "not read yet"
                raise ExplainError(f"tenant {tenant}: no usable config: {why}")
            return target if state.platform else f"{tenant}/{target}"
        if target in config.rejected or any(t.name == target for t in config.targets):
            return target
        owners = [
            key
            for key, state in sorted(self._tenants.items())
            if not state.platform and f"{key}/{target}" in state.names
        ]
        if len(owners) > 1:
            raise ExplainError(
                f"target {target!r} is in several tenants: {', '.join(owners)}; name one "
                "(tenant=NAMESPACE/NAME, or sdgen explain --tenant)"
            )
        return f"{owners[0]}/{target}" if owners else target

    def origin_of(self, target: str) -> str:
        for state in self._tenants.values():
            if target in state.names:
                return state.status.origin
        return super().origin_of(target)

    def _tenant_of(self, target: str) -> str | None:
        """The tenant key a (qualified) target name belongs to; None: the platform's."""
        namespace, _, rest = target.partition("/")
        name = rest.partition("/")[0]
        state = self._tenants.get(f"{namespace}/{name}")
        return state.tenant.key if state is not None and not state.platform else None

    def _keeps_missing(self) -> bool:
        return self.options.on_missing_config is OnMissingConfig.KEEP

    def _update(self, state: _TenantState, found: TenantText) -> bool:
        """Parse the tenant's text if it changed; True when it did."""
        text = found.text
        if text.text is None:
            state.present, state.version, state.config = False, "", None
            state.status = ConfigStatus(text.origin, "", False, (text.problem,))
            return False
        state.present = True
        if text.version == state.version:
            return False
        # Secret references are read from the tenant's own namespace (Target.secrets_namespace).
        # --allowed-file-prefixes holds trusted tenants and the platform; the tenant rules
        # refuse untrusted tenants' files whatever the prefixes. File names are the targets'
        # as qualified below.
        key = found.tenant.key

        def prefix(name: str) -> str:
            return naming.target_prefix(name if found.platform else f"{key}/{name}")

        config = parse_config(
            text.text,
            source=text.origin,
            allow_secrets=self.options.materialize_secrets,
            file_prefix=prefix,
            allowed_files=self.options.allowed_file_prefixes,
        )
        if not found.platform:
            config = qualified(apply_tenancy(config, found.tenant, self.policy), found.tenant)
        state.version, state.config = text.version, config
        issues = tuple(issue.format(text.origin) for issue in config.issues)
        state.status = ConfigStatus(
            text.origin, text.version, config.usable and not config.errors, issues
        )
        log_loaded(text, config, issues)
        if config.usable:
            state.names = frozenset(t.name for t in config.targets) | config.rejected
            state.known = True
        return True

    def _merged(self) -> tuple[Config, bool]:
        """Every usable tenant's targets in one config; the files of the others held. True
        when a tenant's files cannot be told: hold every file."""
        targets: dict[str, Target] = {}
        rejected: set[str] = set()
        issues: list[Issue] = []
        hold_all = False
        keep = self._keeps_missing()
        for key, state in sorted(self._tenants.items()):
            config = state.config
            if state.usable and config is not None:
                issues.extend(config.issues)
                rejected.update(config.rejected)
                for target in config.targets if config.enabled else ():
                    if target.name in targets:  # a platform targetName spelled like a tenant's
                        issues.append(_collision(target.name, key))
                        rejected.add(target.name)
                    else:
                        targets[target.name] = target
            elif state.present or keep:
                rejected.update(state.names)
                # Unknown files: of a tenant unreadable since start, or of a platform config
                # missing since start (its files stay with --on-missing-config=keep).
                hold_all |= not state.known and (state.present or state.platform)
        merged = Config(True, tuple(targets.values()), frozenset(rejected), tuple(issues))
        return merged, hold_all


def _collision(name: str, key: str) -> Issue:
    return Issue(
        "", f"target {name!r} of {key}: another config has a target of this name", target=name
    )


def _version(states: Iterable[_TenantState]) -> str:
    """Changes with any tenant's text, presence or knowledge of its files."""
    parts = sorted(f"{s.tenant.key}\0{s.version}\0{s.present}\0{s.known}" for s in states)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def over_limit(
    resolution: Resolution,
    config: Config,
    tenant_of: Callable[[str], str | None],
    limit: int,
) -> Resolution:
    """The resolution with each target that would take its tenant over `limit` targets moved
    to its errors (its last good files are kept), counting in config order."""
    per_target: dict[str, int] = {}
    for et in resolution.endpoints:
        per_target[et.target.name] = per_target.get(et.target.name, 0) + len(et.lines)
    counted: dict[str, int] = {}
    over: dict[str, str] = {}
    for target in config.targets:
        tenant = tenant_of(target.name)
        if tenant is None or target.name not in per_target:
            continue
        total = counted.get(tenant, 0) + per_target[target.name]
        if total > limit:
            over[target.name] = (
                f"tenant {tenant} would have {total} targets with this one, over "
                f"--tenant-max-targets {limit}: its last good files are kept"
            )
        else:
            counted[tenant] = total
    if not over:
        return resolution
    for name, why in sorted(over.items()):
        log.error("target %s held: %s", name, why)
    return replace(
        resolution,
        endpoints=tuple(et for et in resolution.endpoints if et.target.name not in over),
        errors={**resolution.errors, **over},
    )


def tenant_counts(
    tenants: Mapping[str, ConfigStatus], targets: Mapping[str, int]
) -> dict[str, int]:
    """Targets written per tenant key, from the targets per (qualified) target name."""
    counts = dict.fromkeys(tenants, 0)
    for name, count in targets.items():
        namespace, _, rest = name.partition("/")
        key = f"{namespace}/{rest.partition('/')[0]}"
        if key in counts and rest.count("/") >= 1:
            counts[key] += count
    return counts
