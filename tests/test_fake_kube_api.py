"""The FakeKubeAPIServer fixture itself (a fake, not a cluster): the semantics apply relies on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from fake_kube_api import TOKEN, FakeKubeAPIServer

CM = "/api/v1/namespaces/default/configmaps/x"


@pytest.fixture
def fake() -> Iterator[FakeKubeAPIServer]:
    with FakeKubeAPIServer() as server:
        yield server


def call(
    fake: FakeKubeAPIServer, method: str, path: str, body: Any = None, token: str = TOKEN
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(fake.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/apply-patch+yaml")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def cm(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"k": value},
    }


def test_requires_the_token(fake: FakeKubeAPIServer) -> None:
    assert call(fake, "GET", "/version", token="wrong")[0] == 401


def test_apply_semantics(fake: FakeKubeAPIServer) -> None:
    code, created = call(fake, "PATCH", CM + "?fieldManager=a", cm("1"))
    assert code == 201
    rv = created["metadata"]["resourceVersion"]
    code, same = call(fake, "PATCH", CM + "?fieldManager=a", cm("1"))
    assert (code, same["metadata"]["resourceVersion"]) == (200, rv)
    code, _ = call(fake, "PATCH", CM + "?fieldManager=a&dryRun=All", cm("2"))
    assert code == 200
    assert fake.get("v1", "ConfigMap", "x", "default")["data"] == {"k": "1"}

    code, status = call(fake, "PATCH", CM + "?fieldManager=b", cm("3"))
    assert code == 409
    assert status["kind"] == "Status" and status["reason"] == "Conflict"
    assert status["details"]["causes"] == [
        {
            "type": "FieldManagerConflict",
            "message": 'conflict with "a" using v1',
            "field": ".data.k",
        }
    ]
    code, taken = call(fake, "PATCH", CM + "?fieldManager=b&force=true", cm("3"))
    assert code == 200 and taken["metadata"]["resourceVersion"] != rv
    assert [m["manager"] for m in taken["metadata"]["managedFields"]] == ["b"]


def test_discovery_lists_served_versions_only(fake: FakeKubeAPIServer) -> None:
    fake.add_crd("example.com", "Widget", {"v1": False, "v2": True})
    assert call(fake, "GET", "/apis/example.com/v1")[0] == 404
    code, listing = call(fake, "GET", "/apis/example.com/v2")
    assert code == 200
    assert listing["resources"][0] == {
        "name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
        "verbs": ["get", "list", "patch", "create", "update", "delete", "watch"],
    }  # fmt: skip
    code, crd = call(
        fake, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    )
    assert crd["spec"]["versions"] == [
        {"name": "v1", "served": False},
        {"name": "v2", "served": True},
    ]
