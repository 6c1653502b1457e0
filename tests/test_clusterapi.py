"""Cluster API facts (capi_sysext/clusterapi.py): MachineHealthCheck shapes, read back."""

from __future__ import annotations

import pytest

from capi_sysext.clusterapi import HealthCheck, Shape, ready_timeouts


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_health_check_reads_back_in_either_shape(version: str) -> None:
    spec = Shape(version).health_check(HealthCheck(1200, 3600, "40%"))
    assert [s for _path, s in ready_timeouts({"spec": spec})] == [3600, 3600]


def test_unreadable_timeouts_are_none() -> None:
    mhc = {
        "spec": {
            "unhealthyConditions": [
                {"type": "Ready", "timeout": "1.5h"},
                {"type": "Ready", "timeout": "200h"},
            ]
        }
    }
    assert ready_timeouts(mhc) == [
        ("$.spec.unhealthyConditions[0].timeout", None),
        ("$.spec.unhealthyConditions[1].timeout", None),
    ]
    assert ready_timeouts({"spec": "garbage"}) == []
