"""Preflight: is every kind served, every CRD installed, every feature gate on, before any write."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from capi_sysext.apply.documents import Resource, as_list, dig, discover, expect_ok, object_ref
from capi_sysext.apply.results import ApplyOptions, ObjectRef, PreflightError
from capi_sysext.apply.transport import KubeClient
from capi_sysext.errors import Problem
from capi_sysext.prerequisites import CRD_REQUIREMENTS, GateRequirement

_GATE_FLAG = "--feature-gates"
_K8S_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def feature_gates(deployment: Mapping[str, Any]) -> dict[str, bool]:
    """Feature gates set on any container of a Deployment, later flags winning.

    Accepts ``--feature-gates=A=true,B=false`` and ``--feature-gates A=true``, ``$(VAR)``
    references to the container's env (expanded by the kubelet), and ``${VAR:=default}`` left
    over when a template was not run through clusterctl's variable substitution (the controller
    then sees the literal text, which is not ``true``; we read the default for a better hint
    but treat it as off).
    """
    gates: dict[str, bool] = {}
    spec = dig(deployment, "spec", "template", "spec")
    containers = spec.get("containers")
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, Mapping):
            continue
        env_list = container.get("env")
        env = {
            str(e.get("name")): str(e.get("value", ""))
            for e in (env_list if isinstance(env_list, list) else [])
            if isinstance(e, Mapping) and "value" in e
        }
        words = [str(a) for key in ("command", "args") for a in as_list(container.get(key))]
        for i, word in enumerate(words):
            value: str | None = None
            if word.startswith(_GATE_FLAG + "="):
                value = word[len(_GATE_FLAG) + 1 :]
            elif word == _GATE_FLAG and i + 1 < len(words):
                value = words[i + 1]
            if value is None:
                continue
            value = _expand_env_refs(value, env)
            for item in value.split(","):
                name, sep, setting = item.strip().partition("=")
                if not sep or not name:
                    continue
                # An unsubstituted ${VAR:=x} is not a boolean to the controller: off.
                gates[name.strip()] = setting.strip().lower() == "true"
    return gates


def _expand_env_refs(value: str, env: Mapping[str, str]) -> str:
    return _K8S_ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def _unsubstituted(deployment: Mapping[str, Any], gate: str) -> bool:
    text = json.dumps(dig(deployment, "spec"))
    return re.search(re.escape(gate) + r"=\$\{", text) is not None


# --------------------------------------------------------------------------------------------
# Preflight


@dataclass
class Plan:
    items: list[tuple[ObjectRef, Resource, dict[str, Any]]]
    missing_namespaces: set[str]


def prepare_plan(docs: Sequence[Any]) -> list[tuple[ObjectRef, dict[str, Any]]]:
    out = []
    for i, doc in enumerate(docs):
        ref = object_ref(doc, i)
        out.append((ref, copy.deepcopy(dict(doc))))
    return out


def preflight(
    kube: KubeClient,
    docs: Sequence[Any],
    options: ApplyOptions,
    requirements: Sequence[GateRequirement],
) -> Plan:
    """Everything that can be known before the first write; all problems raised at once."""
    problems: list[Problem] = []
    prepared = prepare_plan(docs)

    kinds_present = {(ref.group, ref.kind) for ref, _ in prepared}
    crd_problem_kinds: set[tuple[str, str]] = set()
    for need in CRD_REQUIREMENTS:
        if (need.group, need.kind) not in kinds_present:
            continue
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{need.crd_name}"
        resp = kube.request("GET", path)
        if resp.status == 404:
            problem = Problem(
                f"{need.kind} documents need the CRD {need.crd_name}, which is not installed",
                need.how_to_install,
            )
            problems.append(problem)
            crd_problem_kinds.add((need.group, need.kind))
        else:
            expect_ok(resp, f"reading CRD {need.crd_name}")

    discovered: dict[tuple[str, str], dict[str, Resource] | None] = {}
    for ref, _ in prepared:
        gv = (ref.group, ref.version)
        if gv not in discovered:
            discovered[gv] = discover(kube, *gv)

    crds: list[Mapping[str, Any]] | None = None
    items: list[tuple[ObjectRef, Resource, dict[str, Any]]] = []
    reported: set[tuple[str, str, str]] = set()
    for doc_ref, body in prepared:
        ref = doc_ref
        served = discovered[(ref.group, ref.version)]
        res = served.get(ref.kind) if served is not None else None
        if res is None:
            key = (ref.group, ref.version, ref.kind)
            if key in reported or (ref.group, ref.kind) in crd_problem_kinds:
                continue
            reported.add(key)
            if crds is None:
                crds = _list_crds(kube)
            problems.append(_not_served_problem(ref, crds))
            continue
        if res.namespaced:
            ns = ref.namespace or kube.namespace or options.default_namespace
            ref = ObjectRef(ref.api_version, ref.kind, ref.name, ns)
            body.setdefault("metadata", {})["namespace"] = ns
        else:
            ref = ObjectRef(ref.api_version, ref.kind, ref.name, None)
        items.append((ref, res, body))

    for req in requirements:
        problems.extend(_check_gate(kube, req))

    declared = {ref.name for ref, _, _ in items if ref.group == "" and ref.kind == "Namespace"}
    wanted = sorted({ref.namespace for ref, _, _ in items if ref.namespace})
    # Missing namespaces matter twice: undeclared ones need --create-namespace, and in a dry
    # run nothing can be validated inside any of them (the server needs the namespace).
    missing: set[str] = set()
    for ns in wanted:
        resp = kube.request("GET", f"/api/v1/namespaces/{quote(ns, safe='')}")
        if resp.status == 404:
            missing.add(ns)
            if not options.create_namespace and ns not in declared:
                problems.append(
                    Problem(f"namespace {ns} does not exist", "pass --create-namespace")
                )
        else:
            expect_ok(resp, f"reading namespace {ns}")

    if problems:
        raise PreflightError(problems)
    return Plan(items, missing)


def _list_crds(kube: KubeClient) -> list[Mapping[str, Any]]:
    resp = kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    if resp.status >= 300 or not isinstance(resp.body, Mapping):
        return []  # only used to word the message better
    return [c for c in as_list(resp.body.get("items")) if isinstance(c, Mapping)]


def _not_served_problem(ref: ObjectRef, crds: list[Mapping[str, Any]]) -> Problem:
    if not ref.group:
        return Problem(f"{ref.api_version} {ref.kind} is not served by this API server")
    for crd in crds:
        spec = dig(crd, "spec")
        if spec.get("group") == ref.group and dig(spec, "names").get("kind") == ref.kind:
            versions = [v for v in as_list(spec.get("versions")) if isinstance(v, Mapping)]
            served = [str(v.get("name")) for v in versions if v.get("served") is True]
            return Problem(
                f"{ref.kind}: CRD {dig(crd, 'metadata').get('name')} does not serve "
                f"{ref.version} (served: {', '.join(served) or 'none'})",
                "upgrade the provider, or generate for the served API version",
            )
    return Problem(
        f"{ref.kind} ({ref.api_version}): no CRD installed for it",
        "install the provider that owns this kind with `clusterctl init`",
    )


def _check_gate(kube: KubeClient, req: GateRequirement) -> list[Problem]:
    path = f"/apis/apps/v1/namespaces/{req.namespace}/deployments/{req.deployment}"
    resp = kube.request("GET", path)
    if resp.status == 404:
        return [
            Problem(
                f"deployment {req.namespace}/{req.deployment} not found, so feature gate "
                f"{req.gate} cannot be on",
                req.how_to_enable,
            )
        ]
    expect_ok(resp, f"reading deployment {req.namespace}/{req.deployment}")
    if feature_gates(resp.body).get(req.gate, False):
        return []
    why = (
        " (its value is an unsubstituted ${...} variable)"
        if _unsubstituted(resp.body, req.gate)
        else ""
    )
    return [
        Problem(
            f"feature gate {req.gate} is off on {req.namespace}/{req.deployment}{why}",
            req.how_to_enable,
        )
    ]
