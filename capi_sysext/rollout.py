"""`generate --diff-against FILE`: which machines the new output would roll relative to a previous
output, as short stderr notes (stdout is never touched).

What Cluster API rolls (Cluster API book, tasks/kubeadm-control-plane: a change of the
KubeadmControlPlane's spec.version, or a new machine template reference, "will trigger a rolling
upgrade"; tasks/updating-machine-templates: MachineDeployments roll when
spec.template.spec.infrastructureRef changes, and infrastructure machine templates are immutable,
so a changed spec needs a new name). KCP's up-to-date check compares exactly three things per
machine: the version, its KubeadmConfig against spec.kubeadmConfigSpec, and the infrastructure
template it was cloned from (kubernetes-sigs/cluster-api controlplane/kubeadm/internal/filters.go,
matchesMachineSpec and matchesKubeadmBootstrapConfig); a MachineDeployment rolls on a change of
spec.template (a new MachineSet per template). A KubeadmConfigTemplate edited under the same name
rolls nothing: only machines created later read it.
"""

from typing import Any

from capi_sysext import yamlio
from capi_sysext.clusterapi import CONTROLPLANE_GROUP, REFERENCE_PATHS

Key = tuple[str, str, str]  # kind, namespace, name


def _index(docs: list[Any]) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for d in docs:
        if isinstance(d, dict) and isinstance(d.get("metadata"), dict):
            meta = d["metadata"]
            out[(str(d.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))] = d
    return out


def _get(doc: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _kcp_infra_ref(doc: dict[str, Any]) -> Any:
    # The machine template reference at its v1beta1 or v1beta2 place (a document has one).
    paths = REFERENCE_PATHS[(CONTROLPLANE_GROUP, "KubeadmControlPlane")]
    return next((ref for p in paths if (ref := _get(doc, *p))), None)


def _ref_name(ref: Any) -> str:
    return str(ref.get("name")) if isinstance(ref, dict) else "-"


def _kcp_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    if _get(old, "spec", "version") != _get(new, "spec", "version"):
        changes.append(
            f"spec.version {_get(old, 'spec', 'version')} -> {_get(new, 'spec', 'version')}"
        )
    if _get(old, "spec", "kubeadmConfigSpec") != _get(new, "spec", "kubeadmConfigSpec"):
        changes.append("spec.kubeadmConfigSpec changed")
    old_ref, new_ref = _kcp_infra_ref(old), _kcp_infra_ref(new)
    if old_ref != new_ref:
        changes.append(f"machine template {_ref_name(old_ref)} -> {_ref_name(new_ref)}")
    return changes


def _md_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_t, new_t = (
        _get(old, "spec", "template", "spec") or {},
        _get(new, "spec", "template", "spec") or {},
    )
    changes = []
    if old_t.get("version") != new_t.get("version"):
        changes.append(f"version {old_t.get('version')} -> {new_t.get('version')}")
    for field, what in (("infrastructureRef", "machine template"), ("bootstrap", "bootstrap")):
        if old_t.get(field) != new_t.get(field):
            if field == "bootstrap":
                old_n = _ref_name(_get(old_t, "bootstrap", "configRef"))
                new_n = _ref_name(_get(new_t, "bootstrap", "configRef"))
            else:
                old_n, new_n = _ref_name(old_t.get(field)), _ref_name(new_t.get(field))
            changes.append(f"{what} {old_n} -> {new_n}")
    rest_old = {
        k: v for k, v in old_t.items() if k not in ("version", "infrastructureRef", "bootstrap")
    }
    rest_new = {
        k: v for k, v in new_t.items() if k not in ("version", "infrastructureRef", "bootstrap")
    }
    if rest_old != rest_new or _get(old, "spec", "template", "metadata") != _get(
        new, "spec", "template", "metadata"
    ):
        changes.append("spec.template changed")
    return changes


def compare(old_docs: list[Any], new_docs: list[Any]) -> list[str]:
    """One line per object whose change rolls machines, is refused, or silently rolls nothing."""
    old, new = _index(old_docs), _index(new_docs)
    lines: list[str] = []
    for key, doc in new.items():
        kind, _, name = key
        before = old.get(key)
        if before is None:
            continue
        if kind == "KubeadmControlPlane":
            changes = _kcp_changes(before, doc)
            if changes:
                lines.append(f"rolls control-plane machines: {kind} {name}: {'; '.join(changes)}")
        elif kind == "MachineDeployment":
            changes = _md_changes(before, doc)
            if changes:
                lines.append(f"rolls worker machines: {kind} {name}: {'; '.join(changes)}")
        elif kind == "KubeadmConfigTemplate":
            if before.get("spec") != doc.get("spec"):
                lines.append(
                    f"{kind} {name} changes under the same name: Cluster API rolls nothing for "
                    "it, only machines created later get it"
                )
        elif kind.endswith("MachineTemplate") and before.get("spec") != doc.get("spec"):
            lines.append(
                f"{kind} {name} changes under the same name: its spec is immutable, so the "
                "provider refuses the update and nothing rolls"
            )
    return lines


def rollout_notes(previous_path: str, new_docs: list[Any]) -> list[str]:
    from capi_sysext.errors import InputError, Problem

    try:
        # open(), not pathlib: this runs on the start-up path of `generate` (tests/test_startup.py).
        with open(previous_path, encoding="utf-8") as f:  # noqa: PTH123
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(
            [Problem(f"--diff-against {previous_path}: cannot read it: {why}")]
        ) from None
    old_docs = yamlio.load_all(text, previous_path)
    lines = compare(old_docs, new_docs)
    if not lines:
        return [f"relative to {previous_path}: no machine would roll"]
    return [f"relative to {previous_path}: {line}" for line in lines]
