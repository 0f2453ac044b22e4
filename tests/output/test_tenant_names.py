"""Two tenants' targets of one name: files and scrape jobs apart, the `job` label the same."""

from __future__ import annotations

import yaml

from sdgen.config.document import parse_config
from sdgen.config.tenancy import Tenant, TenantPolicy, apply_tenancy, qualified
from sdgen.k8s.view import StaticCluster
from sdgen.output import render
from sdgen.resolve.resolver import resolve

CONFIG = """\
targets:
  - targetName: web
    type: PodMonitor
    selector: {matchLabels: {app: web}}
    endpoints: [{port: web}]
"""


def files_of(tenant: Tenant) -> dict[str, bytes]:
    config = qualified(apply_tenancy(parse_config(CONFIG), tenant, TenantPolicy()), tenant)
    resolution = resolve(config, StaticCluster.from_objects(), default_namespace="sdgen")
    assert not resolution.errors
    return render.render(resolution.endpoints)


def test_same_named_targets_of_two_tenants_never_share_a_file_or_a_job() -> None:
    long_name = "x" * 253
    tenants = [Tenant("team-a", "scrape"), Tenant("team-b", "scrape"), Tenant("n" * 63, long_name)]
    rendered = [files_of(t) for t in tenants]
    paths = [set(files) for files in rendered]
    assert not paths[0] & paths[1] and not paths[1] & paths[2] and not paths[0] & paths[2]
    jobs = []
    for files in rendered:
        (scrape,) = (data for path, data in files.items() if path.startswith("scrape/"))
        (job,) = yaml.safe_load(scrape)["scrape_configs"]
        jobs.append(job["job_name"])
    assert len(set(jobs)) == 3
    assert any(p.startswith("scrape/team-a_scrape_web.") for p in paths[0])  # readable
    for path in set().union(*paths):
        assert all(len(part.encode()) <= 255 for part in path.split("/")), path
