"""Golden files: each tests/golden/<case>.case.yaml holds CLI args (+ env); <case>.out is the
expected stdout. Regenerate with `pytest tests/test_golden.py --update-golden` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.case.yaml"))


REPO = GOLDEN.parent.parent


def run_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    spec: dict[str, Any] = yaml.safe_load(case.read_text())
    monkeypatch.chdir(REPO)  # case args name files relative to the repository root
    result = CliRunner().invoke(cli, spec["args"], env=spec.get("env", {}), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("case", CASES, ids=[c.name.removesuffix(".case.yaml") for c in CASES])
def test_golden(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    expected_file = case.with_name(case.name.removesuffix(".case.yaml") + ".out")
    actual = run_case(case, monkeypatch)
    if update_golden or not expected_file.exists():
        expected_file.write_text(actual)
        if not update_golden:
            pytest.fail(f"{expected_file.name} did not exist; written now, review and commit it")
    assert actual == expected_file.read_text(), (
        f"{case.name}: output differs from {expected_file.name}; "
        "if intended, run with --update-golden and review the diff"
    )


@pytest.mark.parametrize(
    "case", CASES[:3], ids=[c.name.removesuffix(".case.yaml") for c in CASES[:3]]
)
def test_output_is_byte_identical_between_runs(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_case(case, monkeypatch) == run_case(case, monkeypatch)
