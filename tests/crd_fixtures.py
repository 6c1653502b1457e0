"""Shared helpers for the validate tests: where the pinned reference CRDs live, one cached store."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from capi_sysext.crdschema import SchemaStore

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "validate"
# The first directory wins for a kind defined twice; cluster-api-v1.14.0 is left out on purpose.
CRD_DIRS = (
    "cluster-api",
    "cluster-api-provider-azure",
    "cluster-api-provider-aws",
    "cluster-api-provider-gcp",
    "cluster-api-addon-provider-helm",
    "clusterclass",  # the infrastructure cluster templates of --format clusterclass
)


def crds_root() -> Path:
    """$CAPI_SYSEXT_SHARED/reference/crds, else the nearest `shared/reference/crds` above this file.

    Checkouts sit at /work/<name> or /work/wt/<name>; searching upwards serves both.
    """
    env = os.environ.get("CAPI_SYSEXT_SHARED")
    if env:
        return Path(env) / "reference" / "crds"
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / "crds"
        if candidate.is_dir():
            return candidate
    pytest.skip("reference CRDs not found (set CAPI_SYSEXT_SHARED)")


def crd_dirs() -> list[Path]:
    root = crds_root()
    return [root / d for d in CRD_DIRS]


@functools.cache
def store() -> SchemaStore:
    return SchemaStore.from_dirs(crd_dirs())
