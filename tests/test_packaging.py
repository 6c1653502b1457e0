"""A non-editable install works from any directory: the wheel carries the package, its data
(templates/, providers/, the catalog) and the console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            check=False)  # fmt: skip
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_install_runs_generate_from_another_directory(tmp_path: Path) -> None:
    # Build from a copy of the tracked files, so the checkout gets no build/ or egg-info.
    src = tmp_path / "src"
    files = _run(["git", "ls-files", "-co", "--exclude-standard"], REPO).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    wheels = tmp_path / "wheels"
    # No network and no isolation: the build uses this interpreter's setuptools.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-q", "-w", str(wheels), str(src)], tmp_path)  # fmt: skip
    (wheel,) = wheels.glob("capi_sysext-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    # Dependencies come from the system site; only our wheel goes into the venv.
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", "--disable-pip-version-check", str(wheel)], tmp_path)  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-I", "-c", "import capi_sysext; print(capi_sysext.__file__)"],
                 elsewhere).stdout  # fmt: skip
    assert where.startswith(str(env_dir)), where  # the wheel, not the checkout
    values = elsewhere / "values.yaml"
    shutil.copy(REPO / "examples" / "azure.yaml", values)
    out = _run([str(env_dir / "bin" / "capi-sysext"), "generate", "--provider", "azure",
                "--k8s", "1.33", "--name", "demo", "--values", str(values), "--offline",
                "--sysupdate"], elsewhere).stdout  # fmt: skip
    kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
    assert "KubeadmControlPlane" in kinds and "HelmChartProxy" in kinds
    assert "[Transfer]" in out  # a skeleton from templates/ was found and filled in
