"""`--format clusterctl-template`: a template for `clusterctl generate cluster NAME --from FILE`.

How the variables come in without pasting: the cluster is generated with a sentinel value for
each templated input (template_inputs; each sentinel is a valid value for its parser and occurs
nowhere else), and this writer walks the resulting data, replacing each sentinel inside a string
with `${VAR}` and setting the replica counts by role. Rules it follows:
- clusterctl substitutes with drone/envsubst (cluster-api cmd/clusterctl/client/yamlprocessor/
  simple_processor.go:98-131): only `${` opens a variable and `$$` is a literal `$` (drone/envsubst
  parse/scan.go scanLbrack, scanEscaped), so every `$` of ours is written `$$`.
  `--list-variables` lists each `${VAR}` (simple_processor.go:160-184). clusterctl always sets
  CLUSTER_NAME, NAMESPACE, CONTROL_PLANE_MACHINE_COUNT, WORKER_MACHINE_COUNT
  (cmd/clusterctl/client/config.go:385-437).
- Provider variables are our Variables' env names, which are the providers' own template names
  (templates/cluster-template.yaml: CAPZ AZURE_SUBSCRIPTION_ID, AZURE_TENANT_ID, AZURE_LOCATION,
  AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY, AZURE_*_MACHINE_TYPE; CAPA AWS_REGION,
  AWS_*_MACHINE_TYPE; CAPG GCP_PROJECT, GCP_REGION, GCP_*_MACHINE_TYPE): every required provider
  input and the machine types.
- Strings holding a variable are double-quoted (as CAPA's and CAPG's templates do: a cluster
  named `123` or `y` stays a string); replicas are plain, so `3` arrives as an integer.
- Content-hash names (capi.content_name) hash the template's spec with the sentinels, i.e. the
  template text, not the values: a new capi-sysext output (sysext, image, node config) is a new
  name and rolls; another value for a variable under the same template name changes an immutable
  machine template in place, which the providers refuse (README says so).
- The sysext version and sha256 cannot be variables: pinned, and said in the header.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from capi_sysext.errors import RenderError
from capi_sysext.writers.base import Output

if TYPE_CHECKING:
    from capi_sysext.generate import GenerateResult
    from capi_sysext.inputs import Layered

# (values key, clusterctl variable) for the inputs every provider has.
_COMMON = (("name", "CLUSTER_NAME"), ("namespace", "NAMESPACE"))
_TOKEN = re.compile(r"zz([0-9]{2})capisysextvar")


def _templated(provider_name: str) -> list[tuple[str, str]]:
    from capi_sysext import clouds

    chosen = [
        (v.key, v.env)
        for v in clouds.get(provider_name).variables
        if v.env and (v.required or v.env.endswith("_MACHINE_TYPE"))
    ]
    return [*_COMMON, *chosen]


def _all_templated() -> list[tuple[str, str]]:
    from capi_sysext import clouds

    seen: list[tuple[str, str]] = []
    for name in clouds.NAMES:
        seen += [kv for kv in _templated(name) if kv not in seen]
    return seen


def template_inputs(provider_name: str) -> dict[str, str]:
    """values key -> sentinel, to be given as flags (they win over every other source)."""
    index = {kv: i for i, kv in enumerate(_all_templated())}
    chosen = _templated(provider_name)
    return {key: f"zz{index[(key, env)]:02d}capisysextvar" for key, env in chosen}


# The replica counts the writer sets by role (ClusterctlTemplateWriter.write).
_COUNTS = (
    ("controlPlane.count", "CONTROL_PLANE_MACHINE_COUNT"),
    ("workers.count", "WORKER_MACHINE_COUNT"),
)
# Where clusterctl takes the variables it always sets (cluster-api cmd/clusterctl/client/config.go
# 385-437; flag defaults in cmd/clusterctl/cmd/generate_cluster.go).
_CLUSTERCTL_SOURCE = {
    "CLUSTER_NAME": "the NAME argument of `clusterctl generate cluster`",
    "NAMESPACE": "--target-namespace (default: the kubeconfig's namespace)",
    "CONTROL_PLANE_MACHINE_COUNT": "--control-plane-machine-count (default 1)",
    "WORKER_MACHINE_COUNT": "--worker-machine-count (default 0)",
}


def replaced_values(provider_name: str, given: Layered) -> list[str]:
    """One warning per value the user set (flag, --set, values file) that the template replaces
    by a ${VAR}: it is not in the output, and clusterctl decides that value instead."""
    from capi_sysext import clouds
    from capi_sysext.spec import CLUSTER_VARIABLES

    where_by_key: dict[str, str] = {}
    for key, (value, fname) in given.files.items():
        if value is not None:  # an empty key is unset
            where_by_key[key] = f"values key {key} in {fname}"
    where_by_key.update({key: f"--set {key}" for key in given.sets})
    flags = {v.key: v for v in (*CLUSTER_VARIABLES, *clouds.get(provider_name).variables)}
    where_by_key.update(
        {key: flags[key].source_name("flag") for key in given.flags if key in flags}
    )
    out = []
    for key, env in [*_templated(provider_name), *_COUNTS]:
        if key in where_by_key:
            source = _CLUSTERCTL_SOURCE.get(env, f"the environment variable {env}")
            out.append(
                f"{where_by_key[key]} is not used: the template has ${{{env}}} in its place, "
                f"which clusterctl fills in from {source}"
            )
    return out


def _string(text: str, env_by_index: list[str]) -> str:
    escaped = text.replace("$", "$$")
    out = _TOKEN.sub(lambda m: "${" + env_by_index[int(m.group(1))] + "}", escaped)
    if out == escaped:
        return text if "$" not in text else escaped
    from capi_sysext.yamlio import DoubleQuoted

    return out if "\n" in out else DoubleQuoted(out)


def _walk(node: Any, env_by_index: list[str]) -> Any:
    if isinstance(node, str):
        return _string(node, env_by_index)
    if isinstance(node, dict):
        return {_walk(k, env_by_index): _walk(v, env_by_index) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, env_by_index) for v in node]
    return node


def _mentions(node: Any, marker: str) -> bool:
    """Whether any string of the data, key or value, still holds the marker."""
    if isinstance(node, str):
        return marker in node
    if isinstance(node, dict):
        return any(_mentions(k, marker) or _mentions(v, marker) for k, v in node.items())
    if isinstance(node, list):
        return any(_mentions(v, marker) for v in node)
    return False


class ClusterctlTemplateWriter:
    name = "clusterctl-template"

    def write(self, result: GenerateResult) -> Output:
        parts = result.parts
        counts = {id(parts.control_plane): "${CONTROL_PLANE_MACHINE_COUNT}"}
        counts.update({id(w.machine_deployment): "${WORKER_MACHINE_COUNT}" for w in parts.workers})
        env_by_index = [env for _, env in _all_templated()]
        docs = []
        for doc in parts.documents:
            out = _walk(doc, env_by_index)
            if id(doc) in counts:
                out["spec"]["replicas"] = counts[id(doc)]  # plain: an integer once substituted
            docs.append(out)
        if _mentions(docs, "capisysextvar"):
            raise RenderError("a templated value reached the output in a form it cannot replace")
        image = result.release
        header = (
            "clusterctl template made by capi-sysext: clusterctl generate cluster NAME --from FILE",
            f"Pinned (no variable can change them): Kubernetes {image.version} ({image.arch}), "
            f"sysext {image.filename}",
            f"sha256 {image.sha256 or '(none known: the download is not pinned)'}",
        )
        return Output(own=docs, header=header)


WRITER = ClusterctlTemplateWriter()
