"""Add-ons that make a new cluster usable: a CNI, the cloud controller manager (CCM), storage.

Nodes register with `cloud-provider: external`, so they stay tainted until a CCM runs, and
NotReady until a CNI runs; without a CSI driver no PersistentVolumeClaim binds. Charts are
delivered as HelmChartProxy objects of the Cluster API add-on provider for Helm (CAAPH), which
installs the chart on every Cluster its selector matches. Where no maintained chart exists (the
GCE CCM), the table names a module that builds the manifests as data, and they travel in a
ClusterResourceSet (CRS), like a default StorageClass a chart does not create. Charts,
repositories and pinned versions come from the reviewed table providers/addons.yaml; this module
looks rows up by the provider's name and never switches on it.

`--addons-via crs` only carries manifests we write ourselves; third-party charts are never
rendered and embedded here.
"""

import copy
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, NamedTuple

from capi_sysext.clusterapi import ADDONS_GROUP, CAPI_GROUP
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import SKIP_ANNOTATION, DocumentSet, Finding, dig
from capi_sysext.errors import InputError, Problem
from capi_sysext.features.base import Feature
from capi_sysext.inputs import Variable, parse_bool, parse_choice
from capi_sysext.labels import CLUSTER_LABEL, ROLE_LABELS

if TYPE_CHECKING:
    from capi_sysext.spec import ClusterSpec

CNIS = ("calico", "cilium", "none")
VIAS = ("helm", "crs")

HCP_API_VERSION = f"{ADDONS_GROUP}/v1alpha1"
HCP_KIND = "HelmChartProxy"

# Labels the Cluster carries and each HelmChartProxy selects on. One label per add-on so a user can
# take a cluster out of one add-on by relabelling it; the cluster-name label keeps two clusters in
# one namespace from picking up each other's proxies.

# validate rule ids (contracts.SKIP_ANNOTATION names them to opt out).
RULE_CNI = "addons-cni"
RULE_CCM = "addons-ccm"
RULE_SELECTOR = "addons-selector"

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
    ccm: bool  # False only with --no-ccm: a cluster without a CCM never initializes its nodes
    via: str  # one of VIAS
    csi: bool | None = None  # None: wherever the table has a driver for the provider and minor
    # From a lock file (capi_sysext/lock.py): its charts replace the table's versions, so a newer
    # capi-sysext does not move a locked cluster's charts.
    lock: "LockedCharts | None" = None

    @property
    def wants_helm(self) -> bool:
        return self.via == "helm" and (
            self.cni != "none" or self.ccm is not False or self.csi is not False
        )


class LockedCharts(NamedTuple):
    """A lock file's add-on pins, applied by plan() to the charts resolved from the release."""

    path: str  # the lock file, for messages
    fix: str  # how to pin a chart the lock lacks
    charts: tuple[tuple[str, str, str], ...]  # ("<role>/<name>", chart name, version)

    def pin(self, charts: list["Chart"]) -> tuple[list["Chart"], list[Problem]]:
        table = {key: (chart, version) for key, chart, version in self.charts}
        out: list[Chart] = []
        problems: list[Problem] = []
        for c in charts:
            key = f"{c.role}/{c.label_value}"
            chart_name, version = table.get(key, ("", ""))
            if chart_name != c.chart_name:
                problems.append(
                    Problem(
                        f"the lock {self.path} pins no version of the {c.chart_name} chart ({key})",
                        self.fix,
                    )
                )
            out.append(c._replace(version=version or c.version))
        return out, problems


class Chart(NamedTuple):
    """One chart release for one cluster, resolved from the table."""

    role: str  # "cni", "ccm" or "csi": names the proxy and the selector label
    label_value: str
    repo_url: str
    chart_name: str
    version: str
    namespace: str
    release_name: str
    values: dict[str, Any]


class Bundle(NamedTuple):
    """Manifests capi-sysext writes itself, delivered by one ClusterResourceSet."""

    role: str  # "ccm" or "csi" (a CCM or CSI driver without a chart) or "storageclass"
    label_value: str
    manifests: list[dict[str, Any]]


def _credentials_note(row: Mapping[str, Any]) -> list[str]:
    """What the cloud account must grant the add-on (the table's `credentials`)."""
    return [str(row["credentials"])] if "credentials" in row else []


class Target(NamedTuple):
    """The parts of a cluster spec the add-ons depend on."""

    provider: str
    kubernetes: str
    name: str
    pod_cidr: str


class Plan(NamedTuple):
    charts: list[Chart]
    bundles: list[Bundle]
    problems: list[Problem]
    notes: list[str]


@cache
def addon_table() -> dict[str, Any]:
    from capi_sysext import yamlio
    from capi_sysext.package_data import data_file

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
    if len(parts) < 2 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        return None  # the catalog reports a malformed version
    return f"{int(parts[0])}.{int(parts[1])}"


def _sort_minors(minors: Any) -> list[str]:
    return sorted(minors, key=lambda m: tuple(int(p) for p in m.split(".")))


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
    return ", ".join(_sort_minors(row.get("versions") or row.get("images") or {}))


_NO_CCM_FIX = (
    "pass --no-ccm (values key addons.ccm: false) and install the cloud controller manager "
    "yourself, or use a Kubernetes minor (--k8s) the table pins"
)


def _ccm(
    table: Any, settings: AddonSettings, spec: Target, minor: str
) -> tuple[Chart | Bundle | None, Problem | None]:
    provider = spec.provider
    row = table["ccm"].get(provider)
    if row is None:
        return None, Problem(
            f"no cloud controller manager for provider {provider} in providers/addons.yaml: "
            "its nodes would keep the 'uninitialized' taint",
            _NO_CCM_FIX,
        )
    if "unavailable" in row:
        return None, Problem(
            f"no cloud controller manager add-on for provider {provider}: {row['unavailable']}",
            _NO_CCM_FIX,
        )
    if "manifests" in row:
        image = row["images"].get(minor)
        if image is None:
            return None, Problem(
                f"no cloud controller manager image pinned for Kubernetes {minor} on {provider} "
                f"in providers/addons.yaml (pinned: {_minors(row)})",
                _NO_CCM_FIX,
            )
        module = import_module(row["manifests"])
        inputs = module.ManifestInputs(
            cluster_name=spec.name, pod_cidr=spec.pod_cidr, image=str(image)
        )
        return Bundle("ccm", provider, module.manifests(inputs)), None
    chart = _resolve("ccm", provider, row, provider, minor)
    if chart is None:
        return None, Problem(
            f"no cloud controller manager chart ({row['chartName']}) pinned for Kubernetes "
            f"{minor} in providers/addons.yaml (pinned: {_minors(row)})",
            _NO_CCM_FIX,
        )
    if settings.via != "helm":
        return None, Problem(
            f"--addons-via crs cannot deliver the cloud controller manager chart "
            f"{row['chartName']}: a ClusterResourceSet only carries manifests capi-sysext "
            "writes itself",
            "use --addons-via helm (needs CAAPH), or --no-ccm and install it yourself",
        )
    return chart, None


def storage_class(row: Mapping[str, Any]) -> dict[str, Any]:
    """The default StorageClass for a driver whose chart creates none."""
    sc = row["storageClass"]
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": sc["name"],
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": sc["provisioner"],
        "parameters": dict(sc.get("parameters", {})),
        "reclaimPolicy": "Delete",
        # Topology-aware: the disk is created in the zone of the node the pod lands on.
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def _csi(
    table: Any, settings: AddonSettings, provider: str, minor: str
) -> tuple[list[Chart | Bundle], Problem | None]:
    row = table.get("csi", {}).get(provider)
    fix = "pass --no-csi (values key addons.csi: false) and install a CSI driver yourself"
    if row is None or "unavailable" in row:
        reason = row["unavailable"] if row else "providers/addons.yaml has no csi row"
        return [], Problem(f"no CSI driver add-on for provider {provider}: {reason}", fix)
    if "manifests" in row:
        # A driver without a chart (the GCE PD CSI driver): manifests we build, delivered by a
        # ClusterResourceSet whichever --addons-via is chosen, as the GCE CCM is.
        module = import_module(row["manifests"])
        bundle = Bundle("csi", provider, module.manifests(dict(row["images"])))
        return [bundle, Bundle("storageclass", provider, [storage_class(row)])], None
    chart = _resolve("csi", provider, row, provider, minor)
    if chart is None:
        return [], Problem(
            f"no CSI driver chart ({row['chartName']}) pinned for Kubernetes {minor} in "
            f"providers/addons.yaml (pinned: {_minors(row)})",
            f"use a pinned Kubernetes minor (--k8s), or {fix}",
        )
    if settings.via != "helm":
        return [], Problem(
            f"--addons-via crs cannot deliver the CSI driver chart {row['chartName']}",
            f"use --addons-via helm (needs CAAPH), or {fix}",
        )
    out: list[Chart | Bundle] = [chart]
    if "storageClass" in row:
        out.append(Bundle("storageclass", provider, [storage_class(row)]))
    return out, None


def plan(settings: AddonSettings, spec: Target) -> Plan:
    """Everything one cluster gets, every reason it cannot (all at once), and notes."""
    minor = kubernetes_minor(spec.kubernetes)
    if minor is None:
        return Plan([], [], [], [])
    table = addon_table()
    charts: list[Chart] = []
    bundles: list[Bundle] = []
    problems = _crs_problems(settings)
    notes: list[str] = []
    if settings.cni != "none" and settings.via == "helm":
        row = table["cni"][settings.cni]
        chart = _resolve("cni", settings.cni, row, spec.provider, minor)
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
    if settings.ccm:
        ccm, problem = _ccm(table, settings, spec, minor)
        if problem is not None:
            problems.append(problem)
        elif isinstance(ccm, Chart):
            charts.append(ccm)
        elif isinstance(ccm, Bundle):
            bundles.append(ccm)
        if ccm is not None:
            notes += _credentials_note(table["ccm"][spec.provider])
    if settings.csi is not False:
        parts, problem = _csi(table, settings, spec.provider, minor)
        if problem is not None and settings.csi:
            problems.append(problem)
        elif problem is not None:
            notes.append(
                f"{problem.message}. PersistentVolumeClaims stay Pending until a CSI driver "
                "runs: install one yourself (or pass --no-csi to silence this)"
            )
        charts += [p for p in parts if isinstance(p, Chart)]
        bundles += [p for p in parts if isinstance(p, Bundle)]
        if parts:
            notes += _credentials_note(table["csi"][spec.provider])
    if settings.lock is not None:
        charts, unpinned = settings.lock.pin(charts)
        problems += unpinned
    return Plan(charts, bundles, problems, notes)


def target(ctx: ClusterContext[Any]) -> Target:
    """From the resolved release: the minor nodes really boot."""
    spec = ctx.spec
    return Target(spec.provider, str(ctx.release.image.version), spec.name, spec.pod_cidr)


def table_pins(minor: str) -> dict[str, tuple[str, str]]:
    """Every chart the table pins for a Kubernetes minor: "<role>/<name>" -> (chart, version)."""
    table = addon_table()
    out: dict[str, tuple[str, str]] = {}
    for role in ("cni", "ccm", "csi"):
        for name, row in table[role].items():
            if "chartName" not in row:
                continue  # manifests we build (e.g. the GCE CCM) or an `unavailable` row
            pin = row.get("versions", {}).get(minor)
            if pin is not None:
                version = pin["chart"] if isinstance(pin, Mapping) else pin
                out[f"{role}/{name}"] = (row["chartName"], str(version))
    return out


def _labels(spec: "ClusterSpec[Any]", role: str, value: str) -> dict[str, str]:
    return {CLUSTER_LABEL: spec.name, ROLE_LABELS[role]: value}


def helm_chart_proxy(spec: "ClusterSpec[Any]", chart: Chart) -> dict[str, Any]:
    from capi_sysext import yamlio

    return {
        "apiVersion": HCP_API_VERSION,
        "kind": HCP_KIND,
        "metadata": {"name": f"{spec.name}-{chart.role}", "namespace": spec.namespace},
        "spec": {
            "clusterSelector": {"matchLabels": _labels(spec, chart.role, chart.label_value)},
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


def crs_documents(spec: "ClusterSpec[Any]", version: str, bundle: Bundle) -> list[dict[str, Any]]:
    """A ConfigMap holding the manifests and the ClusterResourceSet that applies it."""
    from capi_sysext import yamlio

    name = f"{spec.name}-{bundle.role}"
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": spec.namespace},
        "data": {f"{bundle.role}.yaml": yamlio.dump_all(bundle.manifests)},
    }
    crs = {
        "apiVersion": f"{ADDONS_GROUP}/{version}",
        "kind": "ClusterResourceSet",
        "metadata": {"name": name, "namespace": spec.namespace},
        "spec": {
            "clusterSelector": {"matchLabels": _labels(spec, bundle.role, bundle.label_value)},
            "resources": [{"kind": "ConfigMap", "name": name}],
            # Reconcile: a new pinned image in the table reaches the cluster on re-apply.
            "strategy": "Reconcile",
        },
    }
    return [configmap, crs]


def _crs_problems(settings: AddonSettings) -> list[Problem]:
    if settings.via != "crs" or settings.cni == "none":
        return []
    return [
        Problem(
            f"--addons-via crs cannot deliver --cni {settings.cni}: a ClusterResourceSet only "
            "carries manifests capi-sysext writes itself, never a third-party CNI",
            "use --addons-via helm (needs CAAPH), or --cni none and bring your own",
        )
    ]


# ---- validate: runtime contracts over any documents ----------------------------------------------


def _matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _selectors(docs: DocumentSet) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """HelmChartProxy and ClusterResourceSet documents (what selects a Cluster for add-ons)."""
    for kind in (HCP_KIND, "ClusterResourceSet"):
        yield from docs.of_kind(kind, ADDONS_GROUP)


def _ns(doc: Mapping[str, Any]) -> str:
    return str(dig(doc, "metadata", "namespace") or "default")


def _selecting(docs: DocumentSet, cluster: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    labels = dig(cluster, "metadata", "labels") or {}
    return [
        doc
        for _i, doc in _selectors(docs)
        if _ns(doc) == _ns(cluster) and _matches(dig(doc, "spec", "clusterSelector"), labels)
    ]


def _crs_texts(docs: DocumentSet, crs: Mapping[str, Any]) -> Iterator[str]:
    """The manifest text of the ConfigMaps/Secrets a ClusterResourceSet applies."""
    import base64

    for res in dig(crs, "spec", "resources") or []:
        kind, name = res.get("kind"), res.get("name")
        found = docs.named(str(kind), str(name), _ns(crs))
        if found is None:
            continue
        doc = found[1]
        for raw in (doc.get("data") or {}).values():
            if kind != "Secret":
                yield str(raw)
                continue
            try:
                yield base64.b64decode(str(raw)).decode()
            except ValueError:
                continue
        yield from (str(v) for v in (doc.get("stringData") or {}).values())


# What marks a CNI or a CCM in manifests a ClusterResourceSet applies: the workloads the known
# installs create (tigera-operator, calico-node, cilium, flannel, ...; a cloud-controller-manager
# container started with --cloud-provider=...).
_CNI_MARKERS = ("tigera-operator", "calico-node", "cilium", "kube-flannel", "weave-net", "antrea")
_CCM_MARKERS = ("--cloud-provider=",)


def _delivers(
    docs: DocumentSet,
    selecting: list[Mapping[str, Any]],
    charts: set[str],
    markers: tuple[str, ...],
) -> bool:
    for doc in selecting:
        if doc.get("kind") == HCP_KIND and dig(doc, "spec", "chartName") in charts:
            return True
        if doc.get("kind") == "ClusterResourceSet" and any(
            m in text for text in _crs_texts(docs, doc) for m in markers
        ):
            return True
    return False


def _provider_of(cluster: Mapping[str, Any], owners: Mapping[str, str]) -> str | None:
    kind = dig(cluster, "spec", "infrastructureRef", "kind")
    return owners.get(kind) if isinstance(kind, str) else None


def _skip_fix(rule: str) -> str:
    return (
        f'or, if you deliver it another way, annotate the Cluster with {SKIP_ANNOTATION}: "{rule}"'
    )


def check_addon_documents(docs: DocumentSet, owners: Mapping[str, str]) -> list[Finding]:
    table = addon_table()
    cni_charts = {str(row["chartName"]) for row in table["cni"].values()}
    ccm_charts = {str(r["chartName"]) for r in table["ccm"].values() if "chartName" in r}
    findings: list[Finding] = []
    clusters = [(i, c) for i, c in docs.of_kind("Cluster", CAPI_GROUP)]
    for pos, cluster in clusters:
        skipped = docs.skipped(cluster)
        name = dig(cluster, "metadata", "name")
        selecting = _selecting(docs, cluster)
        if RULE_CNI not in skipped and not _delivers(docs, selecting, cni_charts, _CNI_MARKERS):
            findings.append(
                Finding(
                    pos,
                    "$.metadata.labels",
                    f"Cluster {name} gets no CNI: no HelmChartProxy or ClusterResourceSet in "
                    "its namespace selects it with one, so its nodes stay NotReady. Fix: "
                    "generate with --cni calico|cilium (or label the Cluster to match your CNI's "
                    f"selector), {_skip_fix(RULE_CNI)}",
                    RULE_CNI,
                )
            )
        provider = _provider_of(cluster, owners)
        if (
            provider is not None
            and RULE_CCM not in skipped
            and not _delivers(docs, selecting, ccm_charts, _CCM_MARKERS)
        ):
            findings.append(
                Finding(
                    pos,
                    "$.metadata.labels",
                    f"{provider} Cluster {name} gets no cloud controller manager: its kubelets "
                    "run with cloud-provider external, so nodes keep the 'uninitialized' taint, "
                    "never get spec.providerID and Cluster API never sets nodeRef. Fix: generate "
                    f"with the default --ccm, {_skip_fix(RULE_CCM)}",
                    RULE_CCM,
                )
            )
    findings += _selector_findings(docs, clusters)
    return findings


def _selector_findings(
    docs: DocumentSet, clusters: list[tuple[int, Mapping[str, Any]]]
) -> list[Finding]:
    """An add-on meant for a Cluster (by our cluster-name label, or the only Cluster in its
    namespace) whose selector does not match that Cluster's labels never reaches it."""
    findings = []
    for pos, doc in _selectors(docs):
        selector = dig(doc, "spec", "clusterSelector")
        same_ns = [c for _i, c in clusters if _ns(c) == _ns(doc)]
        if any(_matches(selector, dig(c, "metadata", "labels") or {}) for c in same_ns):
            continue
        wanted = dig(selector, "matchLabels", CLUSTER_LABEL)
        targets = [c for c in same_ns if dig(c, "metadata", "name") == wanted]
        if not targets and wanted is None and len(same_ns) == 1:
            targets = same_ns
        for cluster in targets:
            if RULE_SELECTOR in docs.skipped(cluster):
                continue
            labels = dig(cluster, "metadata", "labels") or {}
            want = dig(selector, "matchLabels") or {}
            missing = sorted(f"{k}={v}" for k, v in want.items() if labels.get(k) != v)
            detail = f"missing labels {', '.join(missing)}" if missing else "matchExpressions"
            findings.append(
                Finding(
                    pos,
                    "$.spec.clusterSelector",
                    f"{doc.get('kind')} {dig(doc, 'metadata', 'name')} selects no Cluster: "
                    f"Cluster {dig(cluster, 'metadata', 'name')} does not match ({detail}), so "
                    "the add-on is never installed. Fix: put those labels on the Cluster's "
                    f"metadata.labels or correct the selector, {_skip_fix(RULE_SELECTOR)} on "
                    "the Cluster",
                    RULE_SELECTOR,
                )
            )
    return findings


class AddonsFeature(Feature[AddonSettings]):
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
            "install the provider's cloud controller manager (a provider or Kubernetes minor "
            "without one is an error unless you pass --no-ccm and install it yourself)",
            parse_bool,
            default=True,
            flag="--ccm/--no-ccm",
            env="CAPI_SYSEXT_CCM",
        ),
        Variable(
            "addons.csi",
            "install the provider's CSI driver and a default StorageClass (unset: wherever "
            "capi-sysext pins a driver for the provider and Kubernetes minor, with a note where "
            "it does not)",
            parse_bool,
            default=None,
            flag="--csi/--no-csi",
            env="CAPI_SYSEXT_CSI",
        ),
        Variable(
            "addons.via",
            "how charts are delivered (helm: HelmChartProxy via CAAPH; crs: only add-ons "
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
            cni=values["addons.cni"],
            ccm=values["addons.ccm"],
            via=values["addons.via"],
            csi=values["addons.csi"],
        )

    def check_cluster(self, ctx: ClusterContext[Any]) -> list[Problem]:
        # Not in check(): render-node shares these variables but delivers no add-ons, so an
        # exported CAPI_SYSEXT_ADDONS_VIA=crs must not break it.
        return self._resolve(ctx).problems

    def cluster_labels(self, ctx: ClusterContext[Any]) -> dict[str, str]:
        labels: dict[str, str] = {}
        p = self._plan(ctx)
        for role, value in [
            *((c.role, c.label_value) for c in p.charts),
            *((b.role, b.label_value) for b in p.bundles),
        ]:
            labels.update(_labels(ctx.spec, role, value))
        return labels

    def skipped_rules(self, ctx: ClusterContext[Any]) -> list[str]:
        # The user opted out knowingly (--cni none / --no-ccm): `validate` must not flag the
        # missing add-on on our own output.
        settings = self.of(ctx.spec.features)
        skip = [RULE_CNI] if settings.cni == "none" else []
        skip += [RULE_CCM] if not settings.ccm else []
        return skip

    def documents(self, ctx: ClusterContext[Any]) -> list[dict[str, Any]]:
        p = self._plan(ctx)
        docs = [helm_chart_proxy(ctx.spec, chart) for chart in p.charts]
        for bundle in p.bundles:
            docs += crs_documents(ctx.spec, ctx.shape.version, bundle)
        return docs

    def notes(self, ctx: ClusterContext[Any]) -> list[str]:
        p = self._plan(ctx)
        notes = list(p.notes)
        if p.charts:
            notes.append(f"the HelmChartProxy objects need the {CAAPH_PREREQUISITE}")
        return notes

    def check_documents(self, docs: DocumentSet, owners: Mapping[str, str]) -> list[Finding]:
        return check_addon_documents(docs, owners)

    def prerequisites(self, settings: AddonSettings) -> list[str]:
        return [CAAPH_PREREQUISITE] if settings.wants_helm else []

    def _resolve(self, ctx: ClusterContext[Any]) -> Plan:
        """The plan, resolved once per cluster (ctx.resolved) from the resolved release."""
        found = ctx.resolved.get(self.name)
        if not isinstance(found, Plan):
            found = ctx.resolved[self.name] = plan(self.of(ctx.spec.features), target(ctx))
        return found

    def _plan(self, ctx: ClusterContext[Any]) -> Plan:
        p = self._resolve(ctx)
        # check_cluster ran in generate(); a context used another way must not silently
        # lose its add-ons either.
        if p.problems:
            raise InputError(p.problems)
        return p


FEATURE = AddonsFeature()
