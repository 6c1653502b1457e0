"""`validate`: documents, embedded CLC, cross-document references, report formats and the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from click.testing import CliRunner
from crd_fixtures import FIXTURES, crd_dirs, crds_root, store

from capi_sysext.clccheck import check_clc
from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers `validate`)
from capi_sysext.crdschema import Issue
from capi_sysext.plugins import registered
from capi_sysext.validate import Report, validate_documents

FIXTURE_FILES = sorted(FIXTURES.glob("*.yaml"))
# Golden generator outputs (tests/golden/<case>.out whose case runs `generate`).
GOLDEN_FILES = sorted(
    case.with_name(case.name.removesuffix(".case.yaml") + ".out")
    for case in (Path(__file__).resolve().parent / "golden").glob("*.case.yaml")
    if yaml.safe_load(case.read_text())["args"][0] == "generate"
    and "exit" not in yaml.safe_load(case.read_text())  # negative cases print no cluster
)
CLC_PATH = "$.spec.kubeadmConfigSpec.ignition.containerLinuxConfig.additionalConfig"
V1B2 = FIXTURES / "azure-v1beta2.yaml"


def _run(text: str, name: str = "c.yaml") -> Report:
    return validate_documents([(name, text)], store(), registered())


def _v1b2(old: str, new: str) -> str:
    text = V1B2.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


# --- positive ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixtures_are_valid(path: Path) -> None:
    report = _run(path.read_text(), path.name)
    assert report.lines() == []
    assert report.ok


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: str(p.name))
def test_golden_files_are_valid(path: Path) -> None:
    # One file is one cluster: validated alone, since the cases reuse the same names.
    report = _run(path.read_text(), path.name)
    assert report.lines() == []


def test_all_fixtures_together_are_valid() -> None:
    report = validate_documents(
        [(p.name, p.read_text()) for p in FIXTURE_FILES], store(), registered()
    )
    assert report.lines() == [], report.lines()
    assert report.summary() == "valid: 23 documents in 4 files"


# --- schema issues in context --------------------------------------------------------------------


def test_issue_lines_name_file_doc_kind_and_name() -> None:
    text = _v1b2("      vmSize: Standard_D2s_v3\n      image:", "      vmSize: 3\n      image:")
    text = text.replace("  replicas: 2\n", "  replicas: 2\n  fooBar: true\n", 1)
    report = _run(text)
    assert report.render_text() == (
        "c.yaml:doc 5 (AzureMachineTemplate/demo-control-plane): $.spec.template.spec.vmSize: "
        "must be string, got integer 3\n"
        'c.yaml:doc 8 (MachineDeployment/demo-md-0): $.spec: unknown field "fooBar"\n'
        "invalid: 2 issues in 2 of 10 documents in 1 file\n"
    )
    assert not report.ok


def test_json_report() -> None:
    report = _run(
        _v1b2(
            "  name: demo-md-0\n  namespace: default\nspec:\n  clusterName",
            "  name: Demo-md-0\n  namespace: default\nspec:\n  clusterName",
        )
    )
    data = json.loads(report.render_json())
    assert data["valid"] is False
    assert data["summary"] == {"files": 1, "documents": 10, "documentsWithIssues": 1, "issues": 1}
    bad = [d for d in data["documents"] if d["issues"]]
    assert bad == [
        {
            "file": "c.yaml",
            "doc": 8,
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "MachineDeployment",
            "name": "Demo-md-0",
            "namespace": "default",
            "schemaChecked": True,
            "issues": [
                {
                    "path": "$.metadata.name",
                    "message": "must be a DNS-1123 subdomain (lowercase letters, digits, "
                    "'-' and '.', "
                    "starting and ending with a letter or digit, at most 253 characters), "
                    'got "Demo-md-0"',
                }
            ],
        }
    ]


def test_yaml_syntax_error_is_a_file_issue() -> None:
    report = _run("apiVersion: v1\nkind: [\n")
    assert len(report.file_issues) == 1
    assert report.lines()[0].startswith("c.yaml: $: not valid YAML at line 3, column 1: ")
    assert report.summary() == "invalid: 1 issue in 0 of 0 documents in 1 file, 1 file-level issue"


def test_duplicate_objects() -> None:
    text = V1B2.read_text()
    cm = text[text.index("apiVersion: v1\nkind: ConfigMap") :]
    report = _run(text + "---\n" + cm)
    assert report.lines() == [
        "c.yaml:doc 11 (ConfigMap/kured): $.metadata.name: "
        "duplicate of c.yaml:doc 10 (ConfigMap/kured)"
    ]


# --- CLC -----------------------------------------------------------------------------------------


def test_clc_file_without_mode() -> None:
    report = _run(_v1b2("                mode: 0644\n", ""))
    assert report.lines() == [
        f"c.yaml:doc 4 (KubeadmControlPlane/demo-control-plane): {CLC_PATH}: "
        'CLC $.storage.files[0]: required field "mode" is missing'
    ]


def test_clc_unknown_key_in_template() -> None:
    report = _run(
        _v1b2(
            "                  mode: 0755\n",
            "                  mode: 0755\n                  owner: core\n",
        )
    )
    assert report.lines() == [
        "c.yaml:doc 7 (KubeadmConfigTemplate/demo-md-0): "
        "$.spec.template.spec.ignition.containerLinuxConfig.additionalConfig: "
        'CLC $.storage.directories[0]: unknown field "owner"'
    ]


def test_clc_butane_syntax_is_caught() -> None:
    report = _run(
        _v1b2("                  remote:\n                    url:", "                  source:")
    )
    assert report.lines() == [
        f"c.yaml:doc 4 (KubeadmControlPlane/demo-control-plane): {CLC_PATH}: "
        'CLC $.storage.files[0].contents: unknown field "source"'
    ]


def test_clc_oversized() -> None:
    filler = "".join(f"              # filler line {i:05d} {'x' * 40}\n" for i in range(600))
    report = _run(_v1b2("          systemd:\n", filler + "          systemd:\n"))
    assert report.lines() == [
        f"c.yaml:doc 4 (KubeadmControlPlane/demo-control-plane): {CLC_PATH}: "
        "CLC $: is 39691 bytes; the limit is 32768 bytes (32 KiB)"
    ]


def test_clc_without_ignition_format() -> None:
    report = _run(_v1b2("    format: ignition\n    ignition:", "    ignition:"))
    assert report.lines() == [
        "c.yaml:doc 4 (KubeadmControlPlane/demo-control-plane): $.spec.kubeadmConfigSpec.format: "
        'ignition is set but format is not "ignition"; CABPK would ignore it'
    ]


def test_check_clc_rules() -> None:
    clc = """
storage:
  files:
    - path: etc/x
      mode: 644
      contents: {inline: a, local: b}
    - path: /opt/k.raw
      mode: 0644
      contents:
        remote:
          url: https://example.com/k.raw
          verification: {hash: {function: sha256, sum: abc}}
systemd:
  units:
    - name: kubelet
      dropins: [{name: 10-x}]
passwd:
  users: [{name: core, ssh_authorized_keys: [k]}]
"""
    assert check_clc(clc) == [
        Issue(
            "$.storage.files[0].contents",
            "only one of inline, local, remote may be set; got inline, local",
        ),
        Issue(
            "$.storage.files[0].contents.local",
            "cannot be used through CABPK (ct runs without --files-dir)",
        ),
        Issue(
            "$.storage.files[0].mode", "644 looks like an octal mode written in decimal; write 0644"
        ),
        Issue("$.storage.files[0].path", 'must be an absolute path, got "etc/x"'),
        Issue(
            "$.storage.files[1].contents.remote.verification.hash.function",
            'must be "sha512" (the only hash CLC supports), got string "sha256"',
        ),
        Issue(
            "$.storage.files[1].contents.remote.verification.hash.sum",
            "must be 128 hexadecimal digits (a sha512 sum)",
        ),
        Issue("$.systemd.units[0].dropins[0].name", 'must end with ".conf", got "10-x"'),
        Issue(
            "$.systemd.units[0].name",
            "must end with one of .service, .socket, .device, .mount, .automount, .swap, "
            '.target, .path, .timer, .slice, .scope; got "kubelet"',
        ),
    ]
    assert check_clc("") == []
    assert check_clc("- a\n") == [Issue("$", "must be object, got array")]
    assert check_clc("systemd: {units: [{name: a.service, enabled: yes}]}") == []


# --- references ----------------------------------------------------------------------------------


def test_dangling_reference() -> None:
    report = _run(
        _v1b2(
            "        kind: AzureMachineTemplate\n        name: demo-md-0",
            "        kind: AzureMachineTemplate\n        name: demo-md-1",
        )
    )
    assert report.lines() == [
        "c.yaml:doc 8 (MachineDeployment/demo-md-0): $.spec.template.spec.infrastructureRef: "
        "refers to AzureMachineTemplate/demo-md-1, which is not in the input"
    ]


def test_dangling_reference_v1beta1_shape() -> None:
    text = (FIXTURES / "azure-v1beta1.yaml").read_text()
    text = text.replace(
        "    kind: KubeadmControlPlane\n    name: demo-control-plane",
        "    kind: KubeadmControlPlane\n    name: demo-cp",
        1,
    )
    assert _run(text).lines() == [
        "c.yaml:doc 1 (Cluster/demo): $.spec.controlPlaneRef: "
        "refers to KubeadmControlPlane/demo-cp, which is not in the input"
    ]


def test_reference_into_another_namespace() -> None:
    text = (FIXTURES / "azure-v1beta1.yaml").read_text()
    text = text.replace(
        "    kind: AzureCluster\n    name: demo",
        "    kind: AzureCluster\n    name: demo\n    namespace: other",
        1,
    )
    text = text.replace(
        "metadata:\n  name: demo\nspec:\n  location",
        "metadata:\n  name: demo\n  namespace: prod\nspec:\n  location",
        1,
    )
    assert _run(text).lines() == [
        "c.yaml:doc 1 (Cluster/demo): $.spec.infrastructureRef: "
        "refers to AzureCluster/demo in namespace other, which is not in the input"
    ]


def test_references_to_groups_not_in_the_input_are_not_dangling() -> None:
    # One file with just the Cluster: the provider objects may live in other files.
    text = V1B2.read_text().split("---\n")[0]
    assert _run(text).lines() == []


def test_reference_to_unserved_version() -> None:
    text = (FIXTURES / "aws-v1beta2.yaml").read_text().split("---\n")[0]
    text = text.replace(
        "    apiGroup: infrastructure.cluster.x-k8s.io\n",
        "    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\n",
    )
    text = text.replace("cluster.x-k8s.io/v1beta2", "cluster.x-k8s.io/v1beta1", 1)
    assert _run(text).lines() == [
        "c.yaml:doc 1 (Cluster/aws-demo): $.spec.infrastructureRef: no CRD serves "
        "infrastructure.cluster.x-k8s.io/v1beta1 AWSCluster (served: v1beta2)"
    ]


def test_cluster_name_must_exist() -> None:
    report = _run(_v1b2("  clusterName: demo\n  replicas", "  clusterName: demo2\n  replicas"))
    assert report.lines() == [
        "c.yaml:doc 8 (MachineDeployment/demo-md-0): $.spec.clusterName: "
        "refers to Cluster/demo2, which is not in the input"
    ]


# --- CLI -----------------------------------------------------------------------------------------


def _crd_args() -> list[str]:
    args: list[str] = []
    for d in crd_dirs():
        args += ["--crds", str(d)]
    return args


def test_cli_valid_files_exit_0() -> None:
    result = CliRunner().invoke(cli, ["validate", *_crd_args(), *map(str, FIXTURE_FILES)])
    assert result.exit_code == 0, result.output
    assert result.output == "valid: 23 documents in 4 files\n"


def test_cli_stdin_and_json_exit_1() -> None:
    text = _v1b2("      vmSize: Standard_D2s_v3\n      image:", "      image:")
    result = CliRunner().invoke(cli, ["validate", *_crd_args(), "-o", "json", "-"], input=text)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["summary"]["issues"] == 1
    [doc] = [d for d in data["documents"] if d["issues"]]
    assert doc["file"] == "<stdin>"
    assert doc["issues"] == [
        {"path": "$.spec.template.spec", "message": 'required field "vmSize" is missing'}
    ]


def test_cli_requires_a_crd_source() -> None:
    result = CliRunner().invoke(cli, ["validate", str(V1B2)])
    assert result.exit_code == 2
    assert "error: no CRDs to validate against (pass --crds DIR" in result.output


def test_cli_unreadable_file_is_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", *_crd_args(), str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


# --- --from-cluster against a fake API server ----------------------------------------------------


class _FakeCRDServer(BaseHTTPRequestHandler):
    """A fake Kubernetes API server (not a cluster): it answers only the CRD list call, in pages."""

    crds: ClassVar[list[dict[str, Any]]] = []
    page = 4
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        type(self).requests.append(self.path)
        if url.path != "/apis/apiextensions.k8s.io/v1/customresourcedefinitions":
            self._send(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                },
            )
            return
        start = int(parse_qs(url.query).get("continue", ["0"])[0])
        items = self.crds[start : start + self.page]
        nxt = start + self.page
        meta = {"resourceVersion": "1"}
        if nxt < len(self.crds):
            meta["continue"] = str(nxt)
        self._send(
            200,
            {
                "kind": "CustomResourceDefinitionList",
                "apiVersion": "apiextensions.k8s.io/v1",
                "metadata": meta,
                "items": items,
            },
        )

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def fake_api_server(tmp_path: Path) -> Iterator[Path]:
    crds: list[dict[str, Any]] = []
    for d in ("cluster-api", "cluster-api-provider-azure"):
        for f in sorted((crds_root() / d).glob("*.yaml")):
            crds.extend(doc for doc in yaml.load_all(f.read_text(), Loader=yaml.CSafeLoader) if doc)
    for crd in crds:  # list items come without apiVersion/kind, as from the real API server
        crd.pop("apiVersion", None)
        crd.pop("kind", None)
    _FakeCRDServer.crds = crds
    _FakeCRDServer.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCRDServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "other",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
                "contexts": [
                    {"name": "fake", "context": {"cluster": "fake", "user": "fake"}},
                    {"name": "other", "context": {"cluster": "missing", "user": "fake"}},
                ],
            }
        )
    )
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_from_cluster_reads_crds_from_the_fake_api_server(fake_api_server: Path) -> None:
    text = _v1b2(
        "      vmSize: Standard_D2s_v3\n      image:", "      vmSize: Standard_D2s_v3\n      imag:"
    )
    args = ["validate", "--from-cluster", "--kubeconfig", str(fake_api_server), "--context", "fake"]
    result = CliRunner().invoke(cli, [*args, "-"], input=text)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "<stdin>:doc 5 (AzureMachineTemplate/demo-control-plane): $.spec.template.spec: "
        'unknown field "imag"',
        "invalid: 1 issue in 1 of 10 documents in 1 file",
    ]
    # 13 CRDs in pages of 4: the client followed `continue`.
    assert len(_FakeCRDServer.requests) == 4
    result = CliRunner().invoke(cli, [*args, str(V1B2)])
    assert result.exit_code == 0, result.output


def test_from_cluster_connection_failure_is_reported(fake_api_server: Path) -> None:
    # Context "other" points at a cluster entry that does not exist in the kubeconfig.
    result = CliRunner().invoke(
        cli, ["validate", "--from-cluster", "--kubeconfig", str(fake_api_server), str(V1B2)]
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot load kubeconfig")


def test_builtin_kinds_are_checked_for_metadata_only() -> None:
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: clusters\nspec: {anything: 1}\n"
    report = _run(text)
    assert report.render_text() == (
        "valid: 1 document in 1 file (1 of built-in kinds: metadata checked only)\n"
    )
    bad = _run(text.replace("name: clusters", "name: Clusters"))
    assert [i.path for d in bad.documents for i in d.issues] == ["$.metadata.name"]
