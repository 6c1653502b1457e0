"""The one place tests find the shared reference and the pinned CRDs, and the one strict validator.

Every test that needs ../shared/reference (CRDs, Ignition schemas) asks this module; conftest.py
only holds fixtures and hooks. Missing reference data skips locally but fails under CI=true, so
CI can never pass without the check.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest

from capi_sysext.crdschema import SchemaStore

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "validate"
IN_CI = os.environ.get("CI", "").lower() == "true"

# The first directory wins for a kind defined twice; cluster-api-v1.14.0 is left out on purpose:
# CAPZ and CAAPH build against CAPI v1.13.5.
CORE_CRD_DIRS = ("cluster-api", "cluster-api-addon-provider-helm")
PROVIDER_CRD_DIRS = {
    "azure": "cluster-api-provider-azure",
    "aws": "cluster-api-provider-aws",
    "gcp": "cluster-api-provider-gcp",
}
CRD_DIRS = (
    "cluster-api",
    *PROVIDER_CRD_DIRS.values(),
    "cluster-api-addon-provider-helm",
    "clusterclass",  # the infrastructure cluster templates of --format clusterclass
)


def missing(what: str) -> NoReturn:
    """Skip locally, but never let CI pass without the check."""
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true")
    pytest.skip(f"{what} not available")


def shared_reference() -> Path:
    """The shared reference folder: $CAPI_SYSEXT_SHARED (the shared folder or its reference/),
    else the nearest `shared/reference` above this file (checkouts sit at /work/<name> or
    /work/wt/<name>; searching upwards serves both)."""
    env = os.environ.get("CAPI_SYSEXT_SHARED")
    candidates = [Path(env) / "reference", Path(env)] if env else []
    candidates += [parent / "shared" / "reference" for parent in Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "crds").is_dir():
            return candidate
    missing("the shared reference (set CAPI_SYSEXT_SHARED to the shared folder)")


def crds_root() -> Path:
    return shared_reference() / "crds"


def crd_dirs(provider: str | None = None) -> list[Path]:
    """Every pinned CRD directory, or only those one provider's output needs."""
    root = crds_root()
    if provider is None:
        return [root / d for d in CRD_DIRS]
    return [root / d for d in (CORE_CRD_DIRS[0], PROVIDER_CRD_DIRS[provider], *CORE_CRD_DIRS[1:])]


def crd_args(provider: str | None = None) -> list[str]:
    """`--crds DIR` arguments for the validate command."""
    return [arg for d in crd_dirs(provider) for arg in ("--crds", str(d))]


@functools.cache
def store() -> SchemaStore:
    """The strict validator over every pinned CRD (unknown fields are errors)."""
    return SchemaStore.from_dirs(crd_dirs())


def crd_errors(doc: Mapping[str, Any]) -> list[str]:
    """Strict validation of one document, as readable strings (empty when valid)."""
    return [str(issue) for issue in store().validate(doc)]
