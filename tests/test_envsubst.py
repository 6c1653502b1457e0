"""The clusterctl substitution rules of tests/envsubst.py, pinned by examples."""

from __future__ import annotations

import pytest
from envsubst import MissingVariables, list_variables, substitute


def test_variables_defaults_and_escapes() -> None:
    text = (
        "name: ${CLUSTER_NAME}-md-0\n"
        "replicas: ${WORKER_MACHINE_COUNT:=2}\n"
        "vnet: ${AZURE_VNET_NAME:=${CLUSTER_NAME}-vnet}\n"
        "cmd: echo $$HOME $${NOT_A_VAR} $PATH a$ b\n"
    )
    assert list_variables(text) == {
        "CLUSTER_NAME": None,
        "WORKER_MACHINE_COUNT": "2",
        "AZURE_VNET_NAME": "${CLUSTER_NAME}-vnet",
    }
    assert substitute(text, {"CLUSTER_NAME": "demo"}) == (
        "name: demo-md-0\nreplicas: 2\nvnet: demo-vnet\ncmd: echo $HOME ${NOT_A_VAR} $PATH a$ b\n"
    )
    assert "replicas: 5" in substitute(text, {"CLUSTER_NAME": "d", "WORKER_MACHINE_COUNT": "5"})


def test_missing_required_variables_are_named() -> None:
    with pytest.raises(MissingVariables, match="A, B"):
        substitute("${B} ${A} ${C:-x}", {})
