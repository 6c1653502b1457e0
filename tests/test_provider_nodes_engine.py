"""Real-engine smoke test of the AWS and GCP node configs (`render-node --provider aws|gcp`).

The boot-test suite covers node configs in depth; this pins down that the new providers' wiring
(kubeadm.service ordered after the metadata agent) survives the real Ignition engine and that the
sysext it fetches still merges.
"""

from __future__ import annotations

from pathlib import Path

import enginelib
import pytest
from click.testing import CliRunner

from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)

pytestmark = pytest.mark.engine

VERSION = "v1.33.13"  # what `--k8s 1.33` resolves to in the embedded catalog


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_provider_node_config_boots(provider: str, tmp_path: Path) -> None:
    enginelib.require_engines()
    arch = enginelib.host_sysext_arch()
    image = enginelib.build_sysext(tmp_path / "srv", VERSION, arch)
    root = enginelib.make_scratch_root(tmp_path)
    with enginelib.serve_directory(tmp_path / "srv") as served:
        args = ["render-node", "--provider", provider, "--k8s", "1.33", "--arch", arch]
        args += ["--format", "ignition", "--sysext-base-url", served.base_url]
        rendered = CliRunner().invoke(cli, args)
        assert rendered.exit_code == 0, rendered.output
        ok, output = enginelib.ignition_validate(rendered.stdout)
        assert ok, output
        result = enginelib.run_ignition(rendered.stdout, root, timeout=40)
    assert result.ok, result.log
    assert served.requests == [f"/{image.name}"]
    wiring = enginelib.dropins(root, "kubeadm.service")[f"20-{provider}.conf"]
    assert "Requires=coreos-metadata.service" in wiring
    assert "After=coreos-metadata.service" in wiring
    merge = enginelib.merge_sysext(root)
    assert merge.ok, merge.log
    assert merge.kubelet is not None and VERSION in merge.kubelet
