"""ClusterClass variables as data: what a provider makes per-cluster in `--format clusterclass`.

A provider's `class_parameters` hook (clouds/base.py) names its variables (schema, this cluster's
value, the values key that sets it) and the patches that put them, or values derived from
`.builtin.cluster.name`, into the class's templates. The writer (writers/clusterclass.py) turns
them into `spec.variables`, inline JSON patches and the topology's `spec.topology.variables`; it
knows no provider. The shapes are the same in v1beta1 and v1beta2: ClusterClassVariable
{name, required, schema.openAPIV3Schema}, JSONPatch {op, path, valueFrom.variable|template} and
ClusterVariable {name, value} (pinned CRDs cluster.x-k8s.io_clusterclasses.yaml and
cluster.x-k8s.io_clusters.yaml of CAPI v1.13.5, both versions; v1beta1's extra `metadata` /
`definitionFrom` are not used).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext.clusterapi import CLUSTER_NAME_BUILTIN

# The templates a patch can target, by their role in the class.
INFRASTRUCTURE = "infrastructure"  # the infrastructure cluster template
CONTROL_PLANE_MACHINE = "control-plane-machine"  # the control plane's machine template
WORKER_MACHINE = "worker-machine"  # the worker class's machine template
CONTROL_PLANE = "control-plane"  # KubeadmControlPlaneTemplate
WORKER_CONFIG = "worker-config"  # KubeadmConfigTemplate
TARGETS = (INFRASTRUCTURE, CONTROL_PLANE_MACHINE, WORKER_MACHINE, CONTROL_PLANE, WORKER_CONFIG)

CLUSTER_NAME = CLUSTER_NAME_BUILTIN
# Kept in a class template where the CRD requires a field that a patch always sets, as the
# providers' own classes do (CAPA templates/cluster-template-simple-clusterclass.yaml:197-198,
# CAPG templates/cluster-template-clusterclass.yaml:141,151: `instanceType: REPLACEME`).
REPLACED = "REPLACEME"


class Expr(NamedTuple):
    """A Go text/template field path, e.g. `.region` or `.builtin.cluster.name`."""

    path: str


class ClassVariable(NamedTuple):
    name: str
    schema: Mapping[str, Any]  # its openAPIV3Schema
    value: Any  # this cluster's value, for spec.topology.variables
    key: str  # the values key (or flag) that sets it, for messages
    required: bool = True


class ClassPatch(NamedTuple):
    """One JSON patch: `variable` (valueFrom.variable) or `template` (valueFrom.template, a string
    of literal text and Exprs) into `path` of the `target` template. The class template keeps
    `placeholder` at `path` (REPLACED where the CRD requires the field), or drops the field when
    it is None (the patch then adds it)."""

    target: str
    path: str  # a JSON pointer into the template object, e.g. /spec/template/spec/region
    variable: str | None = None
    template: tuple[str | Expr, ...] = ()
    placeholder: str | None = None


class ClassParameters(NamedTuple):
    variables: tuple[ClassVariable, ...] = ()
    patches: tuple[ClassPatch, ...] = ()


def string_schema(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def split_template(
    text: str, stand_ins: Mapping[str, tuple[str | Expr, ...]]
) -> tuple[str | Expr, ...]:
    """Pieces of `text` with each stand-in (a key of `stand_ins`) replaced by its pieces, so a
    provider can build a templated file with its usual code and stand-in values."""
    pieces: list[str | Expr] = [text]
    for stand_in, replacement in stand_ins.items():
        out: list[str | Expr] = []
        for piece in pieces:
            if isinstance(piece, Expr):
                out.append(piece)
                continue
            for i, chunk in enumerate(piece.split(stand_in)):
                if i:
                    out.extend(replacement)
                if chunk:
                    out.append(chunk)
        pieces = out
    return tuple(pieces)


def machine_types(
    prefix: str,
    description: str,
    field: str,
    values: tuple[str | None, str | None],
    defaults: Mapping[str, str],
) -> tuple[list[ClassVariable], list[ClassPatch]]:
    """The two machine-type variables every provider's own class has (control plane, workers),
    defaulting to the provider table's types, and their patches into the machine templates'
    `field`. `prefix` is the provider's values-key prefix; `values` are the user's settings."""
    variables: list[ClassVariable] = []
    patches: list[ClassPatch] = []
    for name, key, target, value, default in (
        (
            "controlPlaneMachineType",
            f"{prefix}.controlPlaneMachineType",
            CONTROL_PLANE_MACHINE,
            values[0],
            defaults["controlPlane"],
        ),
        (
            "workerMachineType",
            f"{prefix}.nodeMachineType",
            WORKER_MACHINE,
            values[1],
            defaults["worker"],
        ),
    ):
        schema = string_schema(description, minLength=1, default=default)
        variables.append(ClassVariable(name, schema, value or default, key))
        path = "/spec/template/spec/" + field
        patches.append(ClassPatch(target, path, variable=name, placeholder=REPLACED))
    return variables, patches
