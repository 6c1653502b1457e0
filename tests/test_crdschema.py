"""CRD loading, strict schema conversion and the exact wording of schema issues."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from crd_fixtures import crds_root, store

from capi_sysext.crdschema import Issue, SchemaStore, strict_schema

CLUSTER_V1B2: dict[str, Any] = {
    "apiVersion": "cluster.x-k8s.io/v1beta2",
    "kind": "Cluster",
    "metadata": {"name": "demo", "namespace": "default"},
    "spec": {
        "infrastructureRef": {
            "apiGroup": "infrastructure.cluster.x-k8s.io",
            "kind": "AzureCluster",
            "name": "demo",
        }
    },
}
CLUSTER_V1B1: dict[str, Any] = {
    "apiVersion": "cluster.x-k8s.io/v1beta1",
    "kind": "Cluster",
    "metadata": {"name": "demo"},
    "spec": {
        "infrastructureRef": {
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "AzureCluster",
            "name": "demo",
        }
    },
}
AMT: dict[str, Any] = {
    "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
    "kind": "AzureMachineTemplate",
    "metadata": {"name": "demo-md-0"},
    "spec": {
        "template": {
            "spec": {"vmSize": "Standard_D2s_v3", "osDisk": {"osType": "Linux", "diskSizeGB": 128}}
        }
    },
}
KCT_V1B2: dict[str, Any] = {
    "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta2",
    "kind": "KubeadmConfigTemplate",
    "metadata": {"name": "demo-md-0"},
    "spec": {"template": {"spec": {"format": "ignition"}}},
}


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of doc with the dotted path set (or removed when value is ...)."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


# --- loading ------------------------------------------------------------------------------------


def test_index_has_served_versions_only() -> None:
    s = store()
    assert s.served("cluster.x-k8s.io/v1beta1", "Cluster")
    assert s.served("cluster.x-k8s.io/v1beta2", "Cluster")
    assert s.served("infrastructure.cluster.x-k8s.io/v1beta2", "AWSCluster")
    assert not s.served("infrastructure.cluster.x-k8s.io/v1beta1", "AWSCluster")  # served=false
    assert s.served("infrastructure.cluster.x-k8s.io/v1beta1", "AzureCluster")
    assert s.served("addons.cluster.x-k8s.io/v1alpha1", "HelmChartProxy")
    assert s.served("v1", "ConfigMap")  # built in
    assert not s.served("example.com/v1", "Widget")


def test_non_crd_documents_are_skipped(tmp_path: Path) -> None:
    crd = (
        crds_root()
        / "cluster-api-provider-gcp"
        / "infrastructure.cluster.x-k8s.io_gcpclusters.yaml"
    ).read_text()
    components = tmp_path / "nested" / "infrastructure-components.yaml"
    components.parent.mkdir()
    components.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: capg-controller-manager}\n"
        "---\n" + crd + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: capg-system}\n"
    )
    (tmp_path / "README.md").write_text("not yaml: [")
    s = SchemaStore.from_dirs([tmp_path])
    assert s.kinds() == [("infrastructure.cluster.x-k8s.io", "v1beta1", "GCPCluster")]


def test_first_directory_wins_for_a_kind_defined_twice() -> None:
    root = crds_root()
    old_first = SchemaStore.from_dirs([root / "cluster-api", root / "cluster-api-v1.14.0"])
    new_first = SchemaStore.from_dirs([root / "cluster-api-v1.14.0", root / "cluster-api"])
    key = ("cluster.x-k8s.io", "v1beta2", "Cluster")
    assert "/cluster-api/" in old_first.versions[key].source
    assert "/cluster-api-v1.14.0/" in new_first.versions[key].source
    assert len(old_first.shadowed) == 9
    # A whole tree: directories are walked by path components, so cluster-api/ precedes
    # cluster-api-v1.14.0/ and v1.13.5 wins.
    whole = SchemaStore.from_dirs([root])
    assert "/cluster-api/" in whole.versions[key].source


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    from capi_sysext.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        SchemaStore.from_dirs([tmp_path / "nope"])


def test_validators_are_compiled_once() -> None:
    s = store()
    s.validate(CLUSTER_V1B2)
    first = s._validators[("cluster.x-k8s.io", "v1beta2", "Cluster")]
    s.validate(CLUSTER_V1B2)
    assert s._validators[("cluster.x-k8s.io", "v1beta2", "Cluster")] is first


def test_heavy_imports_stay_lazy() -> None:
    code = (
        "import sys, capi_sysext.crdschema, capi_sysext.validate, capi_sysext.clccheck, "
        "capi_sysext.kubecrds, capi_sysext.cli.commands;"
        "bad = [m for m in ('jsonschema', 'kubernetes') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- conversion -------------------------------------------------------------------------------


def test_strict_schema_closes_objects_but_respects_open_ones() -> None:
    src: dict[str, Any] = {
        "type": "object",
        "properties": {
            "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
            "open": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "port": {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            },
            "maybe": {"type": "string", "enum": ["x"], "nullable": True},
            "embedded": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object"}},
            },
            "gt0": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            # A property *named* like a keyword (ClusterClass carries JSONSchemaProps).
            "nullable": {"type": "boolean"},
        },
    }
    out = strict_schema(src)
    props = out["properties"]
    assert out["additionalProperties"] is False
    assert props["closed"]["additionalProperties"] is False
    assert "additionalProperties" not in props["open"]
    assert props["map"]["additionalProperties"] == {"type": "string"}
    assert props["port"]["type"] == ["integer", "string"] and "anyOf" not in props["port"]
    assert props["maybe"]["type"] == ["string", "null"] and props["maybe"]["enum"] == ["x", None]
    assert set(props["embedded"]["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert props["embedded"]["additionalProperties"] is False
    assert props["gt0"]["exclusiveMinimum"] == 0 and "minimum" not in props["gt0"]
    assert props["nullable"] == {"type": "boolean"}
    assert "additionalProperties" not in src["properties"]["closed"]  # input left alone


# --- positive -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc", [CLUSTER_V1B2, CLUSTER_V1B1, AMT, KCT_V1B2], ids=lambda d: d["kind"]
)
def test_minimal_documents_are_valid(doc: dict[str, Any]) -> None:
    assert store().validate(doc) == []


def test_int_or_string_accepts_both() -> None:
    mhc = {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "MachineHealthCheck",
        "metadata": {"name": "mhc"},
        "spec": {"clusterName": "demo", "selector": {}, "maxUnhealthy": "40%"},
    }
    assert store().validate(mhc) == []
    assert store().validate(_with(mhc, "spec.maxUnhealthy", 2)) == []
    assert store().validate(_with(mhc, "spec.maxUnhealthy", True)) == [
        Issue("$.spec.maxUnhealthy", "must be integer or string, got boolean true")
    ]


# --- negative, exact messages -------------------------------------------------------------------


def test_unknown_field() -> None:
    doc = _with(AMT, "spec.template.spec.vmsize", "x")
    assert store().validate(doc) == [Issue("$.spec.template.spec", 'unknown field "vmsize"')]


def test_unknown_top_level_field() -> None:
    doc = _with(CLUSTER_V1B2, "spex", {})
    assert store().validate(doc) == [Issue("$", 'unknown field "spex"')]


def test_wrong_type() -> None:
    doc = _with(AMT, "spec.template.spec.osDisk.diskSizeGB", "3")
    assert store().validate(doc) == [
        Issue("$.spec.template.spec.osDisk.diskSizeGB", 'must be integer, got string "3"')
    ]


def test_int32_range() -> None:
    doc = _with(AMT, "spec.template.spec.osDisk.diskSizeGB", 2**31)
    assert store().validate(doc) == [
        Issue("$.spec.template.spec.osDisk.diskSizeGB", "must be a valid int32, got 2147483648")
    ]


def test_enum_value() -> None:
    doc = _with(KCT_V1B2, "spec.template.spec.format", "butane")
    assert store().validate(doc) == [
        Issue("$.spec.template.spec.format", 'must be one of: cloud-config, ignition; got "butane"')
    ]


def test_missing_required_field() -> None:
    doc = _with(AMT, "spec.template.spec.vmSize", ...)
    assert store().validate(doc) == [
        Issue("$.spec.template.spec", 'required field "vmSize" is missing')
    ]


def test_v1beta1_ref_shape_in_v1beta2_cluster() -> None:
    doc = _with(
        CLUSTER_V1B2,
        "spec.infrastructureRef",
        {
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "AzureCluster",
            "name": "demo",
        },
    )
    assert store().validate(doc) == [
        Issue("$.spec.infrastructureRef", 'required field "apiGroup" is missing'),
        Issue("$.spec.infrastructureRef", 'unknown field "apiVersion"'),
    ]


def test_unserved_version_names_the_served_ones() -> None:
    doc = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "AWSCluster",
        "metadata": {"name": "a"},
    }
    assert store().validate(doc) == [
        Issue(
            "$.apiVersion",
            "no CRD serves infrastructure.cluster.x-k8s.io/v1beta1 AWSCluster (served: v1beta2)",
        )
    ]
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert store().validate(unknown) == [
        Issue("$.apiVersion", "no CRD serves example.com/v1 Widget")
    ]


def test_bad_names() -> None:
    doc = _with(CLUSTER_V1B2, "metadata", {"name": "Demo_1", "namespace": "a.b"})
    assert store().validate(doc) == [
        Issue(
            "$.metadata.name",
            "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and "
            'ending with a letter or digit, at most 253 characters), got "Demo_1"',
        ),
        Issue(
            "$.metadata.namespace",
            "must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending "
            'with a letter or digit, at most 63 characters), got "a.b"',
        ),
    ]


def test_missing_name_and_metadata_fields() -> None:
    doc = _with(CLUSTER_V1B2, "metadata", {"labels": {"cluster.x-k8s.io/name": 3}, "nmae": "x"})
    assert store().validate(doc) == [
        Issue("$.metadata", 'required field "name" is missing'),
        Issue("$.metadata", 'unknown field "nmae"'),
        Issue('$.metadata.labels["cluster.x-k8s.io/name"]', "must be string, got integer 3"),
    ]


def test_builtin_configmap_is_strict() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"a": "b"},
        "dta": {},
    }
    assert store().validate(cm) == [Issue("$", 'unknown field "dta"')]


def test_disk_cache_round_trip(tmp_path: Path) -> None:
    src = crds_root() / "cluster-api-provider-gcp"
    cache = tmp_path / "cache"
    first = SchemaStore.from_dirs([src], cache_dir=cache)
    files = sorted(cache.glob("*.json"))
    assert len(files) == 2
    files[0].write_text("{damaged")  # a broken entry is parsed again, not trusted
    second = SchemaStore.from_dirs([src], cache_dir=cache)
    assert second.kinds() == first.kinds()
    assert second.versions == first.versions
