"""A non-editable install works from any directory: the wheel carries the package, its data
(templates/, providers/, the catalog) and the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: a checkout on it (with the capi_sysext.egg-info an editable install
    # leaves there) makes pip take the wheel as installed already and skip it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=env, check=False)  # fmt: skip
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result


# What a clean checkout holds besides the tracked files (mirrors .gitignore), for a source tree
# without git (an unpacked archive, a machine without git installed).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", "results"
)


def _copy_source(dest: Path) -> None:
    """Copy the source files, so the build leaves no build/ or egg-info in the checkout."""
    if shutil.which("git") and (REPO / ".git").exists():
        files = _run(["git", "ls-files", "-co", "--exclude-standard"], REPO).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, dest / name)
    else:
        shutil.copytree(REPO, dest, ignore=_NOT_SOURCE)


def _site_dirs() -> list[str]:
    """This interpreter's site directories, where the project's dependencies are installed."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]


def test_every_code_package_is_listed_for_the_wheel() -> None:
    """pyproject lists packages by hand (data directories are mapped into the package), so a new
    subpackage missing from the list would install without it: caught here, before a build."""
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    code = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "capi_sysext").rglob("__init__.py")
    }
    assert sorted(code - listed) == []


def test_wheel_install_runs_generate_from_another_directory(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _copy_source(src)
    wheels = tmp_path / "wheels"
    # No network and no isolation: the build uses this interpreter's setuptools (a dev extra:
    # venvs of Python >= 3.12 come without it).
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-q", "-w", str(wheels), str(src)], tmp_path)  # fmt: skip
    (wheel,) = wheels.glob("capi_sysext-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # Only our wheel goes into the venv; its dependencies come from this interpreter's site
    # directories, listed in a .pth file. Its lines only extend sys.path (.pth files in those
    # directories are not run), so this checkout's editable install stays out of the venv.
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   tmp_path).stdout.strip()  # fmt: skip
    Path(purelib, "_deps_from_test_interpreter.pth").write_text("\n".join(_site_dirs()) + "\n")
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
