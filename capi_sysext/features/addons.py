"""Add-ons that make a new cluster usable: a CNI and the cloud controller manager (CCM).

Nodes register with `cloud-provider: external`, so they stay tainted until a CCM runs, and
NotReady until a CNI runs. Both are delivered as HelmChartProxy objects of the Cluster API add-on
provider for Helm (CAAPH), which installs the chart on every Cluster its selector matches. Charts,
repositories and pinned versions come from the reviewed table providers/addons.yaml; this module
looks rows up by the provider's name and never switches on it.

`--addons-via crs` (ClusterResourceSet) only carries manifests we write ourselves (Kured, its own
feature); third-party charts are never rendered and embedded here.
"""

import copy
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from capi_sysext.errors import InputError, Problem
from capi_sysext.features.base import LABEL_PREFIX, ClusterContext, Feature
from capi_sysext.inputs import Variable, parse_bool, parse_choice

if TYPE_CHECKING:
    from capi_sysext.spec import ClusterSpec

CNIS = ("calico", "cilium", "none")
VIAS = ("helm", "crs")

HCP_API_VERSION = "addons.cluster.x-k8s.io/v1alpha1"
HCP_KIND = "HelmChartProxy"

# Labels the Cluster carries and each HelmChartProxy selects on. One label per add-on so a user can
# take a cluster out of one add-on by relabelling it; the cluster-name label keeps two clusters in
# one namespace from picking up each other's proxies.
CLUSTER_LABEL = f"{LABEL_PREFIX}/cluster-name"
CNI_LABEL = f"{LABEL_PREFIX}/cni"
CCM_LABEL = f"{LABEL_PREFIX}/ccm"

# Table placeholders -> CAAPH Go templates over the selected Cluster object. The pod CIDR is read
# from the Cluster itself so the CNI can never disagree with spec.clusterNetwork.
CLUSTER_FIELDS = {
    "@clusterName@": "{{ .Cluster.metadata.name }}",
    "@podCIDR@": "{{ index .Cluster.spec.clusterNetwork.pods.cidrBlocks 0 }}",
}

CAAPH_PREREQUISITE = (
    "Cluster API add-on provider for Helm (CAAPH, HelmChartProxy addons.cluster.x-k8s.io/"
    "v1alpha1): clusterctl init --addon helm"
)


class AddonSettings(NamedTuple):
    cni: str  # one of CNIS
    ccm: bool | None  # None: wherever the table has a chart for the provider and minor
    via: str  # one of VIAS
    # From a lock file (capi_sysext/lock.py): "<role>/<name>" -> chart version to use instead of
    # the table's, so a newer capi-sysext does not move a locked cluster's charts.
    pins: tuple[tuple[str, str], ...] = ()

    @property
    def wants_helm(self) -> bool:
        return self.via == "helm" and (self.cni != "none" or self.ccm is not False)


class Chart(NamedTuple):
    """One chart release for one cluster, resolved from the table."""

    role: str  # "cni" or "ccm": names the proxy and the selector label
    label_value: str
    repo_url: str
    chart_name: str
    version: str
    namespace: str
    release_name: str
    values: dict[str, Any]


@cache
def addon_table() -> dict[str, Any]:
    from capi_sysext import yamlio
    from capi_sysext.resources import data_file

    table: dict[str, Any] = yamlio.load_file(data_file("providerdata", "addons.yaml"))
    return table


def _merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) is replaced."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _fill(values: Any) -> Any:
    """Replace table placeholders with CAAPH templates; an unknown @...@ is a table bug."""
    if isinstance(values, Mapping):
        return {k: _fill(v) for k, v in values.items()}
    if isinstance(values, list):
        return [_fill(v) for v in values]
    if isinstance(values, str) and values.startswith("@") and values.endswith("@"):
        if values not in CLUSTER_FIELDS:
            raise ValueError(f"providers/addons.yaml: unknown placeholder {values}")
        return CLUSTER_FIELDS[values]
    return values


def kubernetes_minor(version: str) -> str | None:
    parts = version.removeprefix("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return None  # the catalog reports a malformed version
    return f"{int(parts[0])}.{int(parts[1])}"


def _resolve(
    role: str, label_value: str, row: Mapping[str, Any], provider: str, minor: str
) -> Chart | None:
    pin = row["versions"].get(minor)
    if pin is None:
        return None
    if isinstance(pin, Mapping):
        version, minor_values = str(pin["chart"]), pin.get("values", {})
    else:
        version, minor_values = str(pin), {}
    values = _merge(row.get("values", {}), row.get("providerValues", {}).get(provider, {}))
    values = _merge(values, minor_values)
    return Chart(
        role=role,
        label_value=label_value,
        repo_url=row["repoURL"],
        chart_name=row["chartName"],
        version=version,
        namespace=row["namespace"],
        release_name=row["releaseName"],
        values=_fill(values),
    )


def _minors(row: Mapping[str, Any]) -> str:
    return ", ".join(sorted(row["versions"], key=lambda m: tuple(int(p) for p in m.split("."))))


def resolve_charts(
    settings: AddonSettings, provider: str, kubernetes: str
) -> tuple[list[Chart], list[Problem]]:
    """The charts one cluster gets, or every reason it cannot get them (all at once)."""
    if not settings.wants_helm:
        return [], []
    minor = kubernetes_minor(kubernetes)
    if minor is None:
        return [], []
    table = addon_table()
    charts: list[Chart] = []
    problems: list[Problem] = []
    if settings.cni != "none":
        row = table["cni"][settings.cni]
        chart = _resolve("cni", settings.cni, row, provider, minor)
        if chart is None:
            problems.append(
                Problem(
                    f"--cni {settings.cni}: no pinned {row['chartName']} chart for Kubernetes "
                    f"{minor} in providers/addons.yaml (pinned: {_minors(row)})",
                    "use a pinned Kubernetes minor (--k8s), another --cni, or --cni none and "
                    "install a CNI yourself",
                )
            )
        else:
            charts.append(chart)
    if settings.ccm is not False:
        chart, problem = _ccm_chart(table, provider, minor)
        if chart is not None:
            charts.append(chart)
        elif settings.ccm:  # asked for explicitly: say why it cannot be had
            assert problem is not None
            problems.append(problem)
    pinned = dict(settings.pins)
    charts = [
        c._replace(version=pinned.get(f"{c.role}/{c.label_value}", c.version)) for c in charts
    ]
    return charts, problems


def table_pins(minor: str) -> dict[str, tuple[str, str]]:
    """Every chart the table pins for a Kubernetes minor: "<role>/<name>" -> (chart, version)."""
    table = addon_table()
    out: dict[str, tuple[str, str]] = {}
    for role in ("cni", "ccm"):
        for name, row in table[role].items():
            pin = row.get("versions", {}).get(minor)
            if pin is not None:
                version = pin["chart"] if isinstance(pin, Mapping) else pin
                out[f"{role}/{name}"] = (row["chartName"], str(version))
    return out


def _ccm_chart(table: Any, provider: str, minor: str) -> tuple[Chart | None, Problem | None]:
    row = table["ccm"].get(provider)
    if row is None:
        return None, Problem(
            f"--ccm: providers/addons.yaml has no cloud controller manager for provider {provider}",
            "use --no-ccm and install the CCM yourself, or add a ccm row to the table",
        )
    if "unavailable" in row:
        return None, Problem(
            f"--ccm is not available for provider {provider}: {row['unavailable']}",
            "use --no-ccm and install the cloud controller manager yourself",
        )
    chart = _resolve("ccm", provider, row, provider, minor)
    if chart is None:
        return None, Problem(
            f"--ccm: no pinned {row['chartName']} chart for Kubernetes {minor} in "
            f"providers/addons.yaml (pinned: {_minors(row)})",
            "use a pinned Kubernetes minor (--k8s), or --no-ccm and install the "
            "cloud controller manager yourself",
        )
    return chart, None


def missing_ccm_note(settings: AddonSettings, provider: str, kubernetes: str) -> str | None:
    """When --ccm was left unset and no chart exists: what the user must do instead."""
    minor = kubernetes_minor(kubernetes)
    if settings.ccm is not None or not settings.wants_helm or minor is None:
        return None
    chart, problem = _ccm_chart(addon_table(), provider, minor)
    if chart is not None or problem is None:
        return None
    return (
        f"no cloud controller manager add-on: {problem.message.removeprefix('--ccm: ')}. Nodes "
        "keep the 'uninitialized' taint until one runs: install it yourself (or pass --no-ccm "
        "to silence this)"
    )


def _labels(spec: "ClusterSpec", chart: Chart) -> dict[str, str]:
    return {CLUSTER_LABEL: spec.name, f"{LABEL_PREFIX}/{chart.role}": chart.label_value}


def helm_chart_proxy(spec: "ClusterSpec", chart: Chart) -> dict[str, Any]:
    from capi_sysext import yamlio

    return {
        "apiVersion": HCP_API_VERSION,
        "kind": HCP_KIND,
        "metadata": {"name": f"{spec.name}-{chart.role}", "namespace": spec.namespace},
        "spec": {
            "clusterSelector": {"matchLabels": _labels(spec, chart)},
            "repoURL": chart.repo_url,
            "chartName": chart.chart_name,
            "version": chart.version,
            "namespace": chart.namespace,
            "releaseName": chart.release_name,
            "options": {"install": {"createNamespace": True}},
            # Built as data and serialized: the Go templates end up as quoted YAML strings, which
            # CAAPH fills in before Helm parses the values.
            "valuesTemplate": yamlio.dump(chart.values),
        },
    }


def _crs_problems(settings: AddonSettings) -> list[Problem]:
    if settings.via != "crs":
        return []
    fix = "use --addons-via helm (needs CAAPH), or --cni none --no-ccm and bring your own"
    problems = []
    if settings.cni != "none":
        problems.append(
            Problem(
                f"--addons-via crs cannot deliver --cni {settings.cni}: a ClusterResourceSet only "
                "carries manifests capi-sysext writes itself, never a third-party CNI",
                fix,
            )
        )
    if settings.ccm:
        problems.append(
            Problem(
                "--addons-via crs cannot deliver the cloud controller manager (--ccm): a "
                "ClusterResourceSet only carries manifests capi-sysext writes itself",
                fix,
            )
        )
    return problems


class AddonsFeature(Feature):
    name = "addons"
    variables = (
        Variable(
            "addons.cni",
            "CNI the cluster gets (none: bring your own)",
            parse_choice(CNIS),
            default="calico",
            flag="--cni",
            env="CAPI_SYSEXT_CNI",
            choices=CNIS,
        ),
        Variable(
            "addons.ccm",
            "install the provider's cloud controller manager (unset: wherever capi-sysext pins a "
            "chart for the provider and Kubernetes minor, with a note where it does not)",
            parse_bool,
            default=None,
            flag="--ccm/--no-ccm",
            env="CAPI_SYSEXT_CCM",
        ),
        Variable(
            "addons.via",
            "how CNI and CCM are delivered (helm: HelmChartProxy via CAAPH; crs: only add-ons "
            "capi-sysext writes itself)",
            parse_choice(VIAS),
            default="helm",
            flag="--addons-via",
            env="CAPI_SYSEXT_ADDONS_VIA",
            choices=VIAS,
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> AddonSettings:
        return AddonSettings(
            cni=values["addons.cni"], ccm=values["addons.ccm"], via=values["addons.via"]
        )

    def check_cluster(self, spec: "ClusterSpec") -> list[Problem]:
        # Not in check(): render-node shares these variables but delivers no add-ons, so an
        # exported CAPI_SYSEXT_ADDONS_VIA=crs must not break it.
        settings: AddonSettings = spec.node.features[self.name]
        charts_problems = resolve_charts(settings, spec.provider, spec.node.kubernetes)[1]
        return [*_crs_problems(settings), *charts_problems]

    def cluster_labels(self, spec: "ClusterSpec") -> dict[str, str]:
        labels: dict[str, str] = {}
        for chart in self._charts(spec):
            labels.update(_labels(spec, chart))
        return labels

    def documents(self, ctx: ClusterContext) -> list[dict[str, Any]]:
        return [helm_chart_proxy(ctx.spec, chart) for chart in self._charts(ctx.spec)]

    def notes(self, spec: "ClusterSpec") -> list[str]:
        settings: AddonSettings = spec.node.features[self.name]
        notes = []
        missing = missing_ccm_note(settings, spec.provider, spec.node.kubernetes)
        if missing:
            notes.append(missing)
        if self._charts(spec):
            notes.append(f"the HelmChartProxy objects need the {CAAPH_PREREQUISITE}")
        return notes

    def prerequisites(self, settings: AddonSettings) -> list[str]:
        return [CAAPH_PREREQUISITE] if settings.wants_helm else []

    def _charts(self, spec: "ClusterSpec") -> list[Chart]:
        settings: AddonSettings = spec.node.features[self.name]
        charts, problems = resolve_charts(settings, spec.provider, spec.node.kubernetes)
        # check_cluster ran in generate(); a spec used another way must not silently
        # lose its add-ons either.
        problems = [*_crs_problems(settings), *problems]
        if problems:
            raise InputError(problems)
        return charts


FEATURE = AddonsFeature()
