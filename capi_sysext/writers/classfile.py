"""`generate --class NAME --class-file FILE`: the topology Cluster checked against that class.

What CAPI would refuse, said before anything is applied (cluster-api at ae7ff047): a variable
the class does not define or a value its schema rejects (internal/topology/variables/
cluster_variable_validation.go:85-88, 136-170), a required variable not set (same file,
115-130; the webhook defaults variables first, so one with a default is set), a version outside
the class's `kubernetesVersions` (core/webhooks/admission/cluster.go:925-940), a worker class
the class does not have (internal/topology/check/compatibility.go:302). Each problem names the
values key that sets the variable, so the fix is in the user's own file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from capi_sysext.classvars import ClassParameters
from capi_sysext.errors import InputError, Problem


def read_class(path: str, name: str) -> Mapping[str, Any]:
    """The ClusterClass NAME from the YAML file at `path` (bounded like validate's input)."""
    from capi_sysext import yamlio

    text = yamlio.read_text(path, yamlio.MAX_DOCUMENTS_BYTES)
    return find_class(yamlio.load_all(text, path), name, path)


def find_class(docs: Sequence[Any], name: str, source: str) -> Mapping[str, Any]:
    """The ClusterClass NAME among the documents of FILE."""
    classes = [
        d
        for d in docs
        if isinstance(d, Mapping)
        and d.get("kind") == "ClusterClass"
        and isinstance(d.get("metadata"), Mapping)
    ]
    for doc in classes:
        if doc["metadata"].get("name") == name:
            return doc
    found = sorted(str(d["metadata"].get("name")) for d in classes)
    if found:
        fix = f"use --class {' or --class '.join(found)}, or give the file that defines {name}"
    else:
        fix = "give the file that holds the ClusterClass (e.g. _shared.yaml of a class fleet)"
    raise InputError([Problem(f"--class-file {source}: no ClusterClass named {name!r}", fix)])


def class_problems(
    cluster: Mapping[str, Any],
    cluster_class: Mapping[str, Any],
    params: ClassParameters,
    source: str,
) -> list[Problem]:
    """Every way the topology Cluster does not fit the class, one Problem each."""
    from capi_sysext.crdschema import value_issues

    spec = cluster_class.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    name = cluster_class["metadata"]["name"]
    where = f"ClusterClass {name} (--class-file {source})"
    topology = cluster["spec"]["topology"]
    keys = {v.name: v.key for v in params.variables}
    given = {v["name"]: v["value"] for v in topology.get("variables", [])}
    defined: dict[str, Mapping[str, Any]] = {}
    for v in spec.get("variables") or []:
        if isinstance(v, Mapping) and isinstance(v.get("name"), str):
            defined[v["name"]] = v
    problems: list[Problem] = []

    for var_name, value in given.items():
        key = keys.get(var_name, var_name)
        variable = defined.get(var_name)
        if variable is None:
            problems.append(
                Problem(
                    f"{key}: {where} has no variable {var_name!r}, so this value would not "
                    "reach the cluster",
                    "use the class capi-sysext generates for these options "
                    "(generate --format clusterclass), or drop the key",
                )
            )
            continue
        schema = (variable.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(schema, Mapping):
            for issue in value_issues(schema, value):
                at = "" if issue.path == "$" else f" at {issue.path}"
                problems.append(
                    Problem(
                        f"{key}: {json.dumps(value)} does not fit variable {var_name!r} of "
                        f"{where}{at}: {issue.message}",
                        f"set {key} to a value the class allows",
                    )
                )
    for var_name, variable in defined.items():
        schema = (variable.get("schema") or {}).get("openAPIV3Schema")
        has_default = isinstance(schema, Mapping) and "default" in schema
        if variable.get("required") and var_name not in given and not has_default:
            problems.append(
                Problem(
                    f"{where} requires variable {var_name!r}, which capi-sysext does not set "
                    "for these options",
                    "use a class generated for the same provider and options, or set it in "
                    "the Cluster's spec.topology.variables yourself",
                )
            )

    versions = spec.get("kubernetesVersions")
    version = topology.get("version")
    if isinstance(versions, list) and versions and version not in versions:
        shown = [str(v) for v in versions]
        if len(shown) > 6:
            shown = [*shown[:2], f"... ({len(shown) - 4} more)", *shown[-2:]]
        problems.append(
            Problem(
                f"--k8s: {where} allows Kubernetes {', '.join(shown)}, not {version}",
                "choose one of those versions, or regenerate the class for this one",
            )
        )
    workers = spec.get("workers")
    classes = {
        md.get("class")
        for md in (workers.get("machineDeployments") or [] if isinstance(workers, Mapping) else [])
        if isinstance(md, Mapping)
    }
    for md in topology.get("workers", {}).get("machineDeployments", []):
        if md["class"] not in classes:
            problems.append(
                Problem(
                    f"{where} has no worker class {md['class']!r} "
                    f"(it has: {', '.join(sorted(map(str, classes))) or 'none'})",
                    "use a class generated by capi-sysext generate --format clusterclass",
                )
            )
    return problems
