"""Fixtures and pytest hooks only: a clean environment, engine deadlines, --update-golden.

Helpers live in plain modules (tests/crd_fixtures.py for the shared reference and CRDs)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from fake_kube_api import FakeKubeAPIServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="Rewrite tests/golden/*.out from the current output (review the diff!).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def _input_env_names() -> set[str]:
    from capi_sysext import clouds
    from capi_sysext.specbuild import PROVIDER_VARIABLE, cluster_variables

    names = {PROVIDER_VARIABLE.env} if PROVIDER_VARIABLE.env else set()
    for p in clouds.NAMES:
        names |= {v.env for v in cluster_variables(p) if v.env}
    return names


ENGINE_TEST_DEADLINE_S = 60


@pytest.fixture(autouse=True)
def _engine_test_deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    """No pytest-timeout in this project: SIGALRM keeps every real-engine test bounded."""
    if request.node.get_closest_marker("engine") is None:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"engine test exceeded {ENGINE_TEST_DEADLINE_S}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(ENGINE_TEST_DEADLINE_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _clean_input_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A developer's exported AZURE_* or CLUSTER_NAME must not change test results."""
    for name in _input_env_names():
        monkeypatch.delenv(name, raising=False)
    # Tests never reach the real bakery: tests that exercise refresh pass a 127.0.0.1 URL and
    # call the core with offline=False explicitly.
    monkeypatch.setenv("CAPI_SYSEXT_OFFLINE", "1")
    # Never read or write the user's real cache from tests.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def capi_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeAPIServer]:
    """The Kubernetes API test double serving Cluster API, the add-on kinds (ClusterResourceSet,
    HelmChartProxy), ConfigMaps and the default namespace: what `apply` of a generated cluster
    needs. Proxies are cleared, as the double listens on 127.0.0.1 only."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with FakeKubeAPIServer() as server:
        server.install_cluster_api()
        both = {"v1beta1": True, "v1beta2": True}
        server.add_crd("addons.cluster.x-k8s.io", "ClusterResourceSet", both)
        server.add_crd("addons.cluster.x-k8s.io", "HelmChartProxy", {"v1alpha1": True})
        server.add_resource("", "v1", "ConfigMap", "configmaps", namespaced=True)
        server.add_namespace("default")
        yield server
