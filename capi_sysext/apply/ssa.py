"""Server-side apply of the planned documents, in apply order, reporting each object's outcome."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from capi_sysext.apply.checks import Plan, preflight, prepare_plan
from capi_sysext.apply.documents import Resource, apply_rank, object_path
from capi_sysext.apply.results import (
    Action,
    ApplyFailed,
    ApplyOptions,
    ApplyResult,
    BadAnswer,
    ObjectRef,
    ObjectResult,
)
from capi_sysext.apply.transport import KubeClient, Response, status_message
from capi_sysext.errors import CapiSysextError, Problem
from capi_sysext.prerequisites import GateRequirement


def apply_documents(
    docs: Sequence[Any],
    options: ApplyOptions,
    requirements: Sequence[GateRequirement],
    kube: KubeClient | None = None,
) -> ApplyResult:
    """Preflight, then server-side apply every document in dependency order.

    Raises PreflightError before any write, ApplyFailed (carrying the partial result) at the
    first hard failure.
    """
    prepare_plan(docs)  # malformed input is reported before connecting anywhere
    own = kube is None
    client = kube or KubeClient(options)
    client.deadline_at = options.retry.clock() + options.apply_timeout
    try:
        try:
            plan = preflight(client, docs, options, requirements)
        except CapiSysextError:
            raise
        except Exception as exc:  # a shape we did not foresee: still nothing was written
            raise BadAnswer(
                f"preflight stopped on an unexpected answer ({type(exc).__name__}: {exc}); "
                "nothing was applied"
            ) from exc
        return _apply_plan(client, plan, options)
    finally:
        client.deadline_at = None
        if own:
            client.close()


_NAMESPACE_RESOURCE = Resource("namespaces", namespaced=False)


def _apply_plan(kube: KubeClient, plan: Plan, options: ApplyOptions) -> ApplyResult:
    work: list[tuple[ObjectRef, Resource, dict[str, Any]]] = []
    if options.create_namespace:
        declared = {r.name for r, _, _ in plan.items if r.group == "" and r.kind == "Namespace"}
        for ns in sorted(plan.missing_namespaces - declared):
            ref = ObjectRef("v1", "Namespace", ns, None)
            work.append(
                (
                    ref,
                    _NAMESPACE_RESOURCE,
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                )
            )
    rank = {id(item): apply_rank(item[0].group, item[0].kind) for item in plan.items}
    work.extend(sorted(plan.items, key=lambda item: rank[id(item)]))

    result = ApplyResult([], dry_run=options.dry_run)
    for index, (ref, res, body) in enumerate(work):
        if options.dry_run and ref.namespace in plan.missing_namespaces:
            # The server cannot dry-run into a namespace that does not exist yet.
            result.objects.append(
                ObjectResult(ref, Action.CREATED, "not validated: its namespace is new")
            )
            continue
        try:
            outcome = _apply_one(kube, ref, res, body, options)
        except Exception as exc:
            # Any failure, foreseen or not (even a bug), must still say what was committed.
            if isinstance(exc, CapiSysextError):
                problems_here = exc.problems
            else:
                problems_here = [Problem(f"{ref}: unexpected {type(exc).__name__}: {exc}")]
            result.objects.append(ObjectResult(ref, Action.FAILED, str(exc)))
            rest = work[index + 1 :]
            result.objects.extend(ObjectResult(r, Action.NOT_APPLIED) for r, _, _ in rest)
            # Per action, so a re-run (or a human) knows exactly what this run committed.
            applied = (
                "; ".join(
                    f"{action.value} {_refs(result, action)}"
                    for action in (Action.CREATED, Action.CHANGED, Action.UNCHANGED)
                    if result.count(action)
                )
                or "nothing"
            )
            pending = ", ".join(str(o.ref) for o in result.not_applied)
            problems = [
                *problems_here,
                Problem(f"applied: {applied}"),
                Problem(f"not applied: {pending}"),
            ]
            raise ApplyFailed(problems, result) from None
        result.objects.append(outcome)
    return result


def _refs(result: ApplyResult, action: Action) -> str:
    return ", ".join(str(o.ref) for o in result.objects if o.action is action)


class ApplyRejected(CapiSysextError):
    """The API server refused one object (conflict, validation, permissions)."""


def _apply_one(
    kube: KubeClient, ref: ObjectRef, res: Resource, body: dict[str, Any], options: ApplyOptions
) -> ObjectResult:
    path = object_path(ref, res)
    before = kube.request("GET", path)
    if before.status not in (200, 404):
        raise ApplyRejected(
            f"{ref}: reading it failed: HTTP {before.status}: {status_message(before)}"
        )
    query = {"fieldManager": options.field_manager}
    if options.force_conflicts:
        query["force"] = "true"
    if options.dry_run:
        query["dryRun"] = "All"
    resp = kube.request("PATCH", path, query, body, "application/apply-patch+yaml")
    if resp.status == 409:
        raise ApplyRejected([_conflict_problem(ref, resp)])
    if resp.status >= 300:
        raise ApplyRejected(f"{ref}: HTTP {resp.status}: {status_message(resp)}")
    if before.status == 404:
        return ObjectResult(ref, Action.CREATED)
    old, new = before.body, resp.body
    if not options.dry_run:
        same = _meta(old).get("resourceVersion") == _meta(new).get("resourceVersion")
    else:
        # A dry run does not bump resourceVersion; compare the content instead.
        same = _normalised(old) == _normalised(new)
    return ObjectResult(ref, Action.UNCHANGED if same else Action.CHANGED)


def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _normalised(obj: Any) -> Any:
    if not isinstance(obj, Mapping):
        return obj
    out = copy.deepcopy(dict(obj))
    meta = out.get("metadata", {})
    for key in ("resourceVersion", "generation"):
        meta.pop(key, None)
    for entry in meta.get("managedFields", []) or []:
        entry.pop("time", None)
    return out


_CONFLICT_OWNER = re.compile(r'conflict with "([^"]+)"')


def _conflict_problem(ref: ObjectRef, resp: Response) -> Problem:
    """Names the field manager(s) owning the contested fields, from the Status causes."""
    owners: dict[str, list[str]] = {}
    body = resp.body if isinstance(resp.body, Mapping) else {}
    for cause in (body.get("details") or {}).get("causes", []) or []:
        match = _CONFLICT_OWNER.search(str(cause.get("message", "")))
        owner = match.group(1) if match else "another field manager"
        owners.setdefault(owner, []).append(str(cause.get("field", "?")))
    if not owners:
        return Problem(f"{ref}: conflict: {status_message(resp)}", "pass --force-conflicts")
    described = "; ".join(f'{", ".join(fields)} owned by "{o}"' for o, fields in owners.items())
    return Problem(
        f"{ref}: field manager conflict: {described}",
        "pass --force-conflicts to take these fields over",
    )
