"""MachineHealthChecks for control plane and workers that tolerate planned reboots.

A node that Kured drains and reboots is NotReady for the drain plus the reboot; the unhealthy-node
timeout must be longer than that or CAPI replaces the machine mid-update. The drain timeout and
whether Kured runs are the kured/updates features' settings, a declared dependency (never
declared twice here).
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext.capi import Names
from capi_sysext.clusterapi import (
    CAPI_GROUP,
    CONTROL_PLANE_NAME_LABEL,
    DEPLOYMENT_NAME_LABEL,
    HealthCheck,
    ready_timeouts,
)
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import DocumentSet, Finding, dig
from capi_sysext.durations import format_duration
from capi_sysext.errors import Problem
from capi_sysext.features import kured, updates
from capi_sysext.features.base import Feature, typed
from capi_sysext.features.kuredscan import kured_in
from capi_sysext.inputs import Variable, parse_bool, parse_duration

WORKER_MAX_UNHEALTHY = "40%"  # stop remediating when this many workers are down at once
RULE_REBOOT_TIMEOUT = "mhc-reboot-timeout"  # validate rule id (contracts.SKIP_ANNOTATION)


def _var_default_s(feature: Feature[Any], key: str) -> int:
    (var,) = [v for v in feature.variables if v.key == key]
    return int(var.parse(var.default))


class HealthCheckSettings(NamedTuple):
    enabled: bool
    node_timeout_s: int
    startup_timeout_s: int
    reboot_allowance_s: int


class HealthChecks(Feature[HealthCheckSettings]):
    name = "healthChecks"
    # The cross-check: whether Kured drains (updates) and for how long at most (kured).
    depends_on = (updates.FEATURE, kured.FEATURE)
    variables = (
        Variable(
            "healthChecks.enabled",
            "MachineHealthChecks that replace machines whose node stays unhealthy",
            parse_bool,
            default=True,
            flag="--health-checks/--no-health-checks",
        ),
        Variable(
            "healthChecks.unhealthyNodeTimeout",
            "replace a machine whose node is NotReady/Unknown this long; must exceed the Kured "
            "drain timeout plus the reboot allowance",
            parse_duration(60),
            default="1h",
            flag="--health-check-node-timeout",
        ),
        Variable(
            "healthChecks.nodeStartupTimeout",
            "replace a machine whose node has not joined after this long",
            parse_duration(60),
            default="20m",
            flag="--health-check-startup-timeout",
        ),
        Variable(
            "healthChecks.rebootAllowance",
            "how long a node may take to reboot and become Ready again",
            parse_duration(60),
            default="10m",
            flag="--health-check-reboot-allowance",
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> HealthCheckSettings:
        v = {var.key: typed(values, var) for var in self.variables}
        return HealthCheckSettings(
            enabled=v["healthChecks.enabled"],
            node_timeout_s=v["healthChecks.unhealthyNodeTimeout"],
            startup_timeout_s=v["healthChecks.nodeStartupTimeout"],
            reboot_allowance_s=v["healthChecks.rebootAllowance"],
        )

    def check(self, features: Mapping[str, object]) -> list[Problem]:
        s = self.of(features)
        if not s.enabled:
            return []
        with_kured = self.needs(updates.FEATURE, features).kured
        drain_s = self.needs(kured.FEATURE, features).drain_timeout_s
        needed = s.reboot_allowance_s + (drain_s if with_kured else 0)
        if s.node_timeout_s > needed:
            return []
        what = (
            f"the Kured drain timeout ({format_duration(drain_s)}) plus the reboot "
            f"allowance ({format_duration(s.reboot_allowance_s)})"
            if with_kured
            else f"the reboot allowance ({format_duration(s.reboot_allowance_s)})"
        )
        return [
            Problem(
                f"healthChecks.unhealthyNodeTimeout ({format_duration(s.node_timeout_s)}) must "
                f"be longer than {what}, or CAPI replaces nodes while they reboot",
                "raise it with flag --health-check-node-timeout (values key "
                "healthChecks.unhealthyNodeTimeout), or lower --kured-drain-timeout / "
                "--health-check-reboot-allowance",
            )
        ]

    def documents(self, ctx: ClusterContext[Any]) -> list[dict[str, Any]]:
        s = self.of(ctx.spec.features)
        if not s.enabled:
            return []
        names = Names(ctx.spec.name)
        out = [
            self._mhc(
                ctx,
                s,
                f"{names.control_plane}-mhc",
                CONTROL_PLANE_NAME_LABEL,
                names.control_plane,
                None,
            ),
        ]
        if ctx.spec.worker_count:
            out.append(
                self._mhc(
                    ctx,
                    s,
                    f"{names.workers}-mhc",
                    DEPLOYMENT_NAME_LABEL,
                    names.workers,
                    WORKER_MAX_UNHEALTHY,
                )
            )
        return out

    def check_documents(self, docs: DocumentSet, owners: Mapping[str, str]) -> list[Finding]:
        """With Kured in the input, a MachineHealthCheck must outwait a drain plus a reboot, or
        CAPI deletes nodes that Kured is rebooting: a node condition that holds for its timeout
        gets the Machine remediated (kubernetes-sigs/cluster-api docs/book/src/tasks/
        automated-machine-management/healthchecking.md:22-23, at ae7ff04)."""
        drains = kured_in(docs)
        if not drains:
            return []
        # Kured's own default drain timeout is 0 (wait forever); where the input does not say,
        # use our default, the shortest drain that a sane MHC must still outwait.
        default_drain = _var_default_s(kured.FEATURE, "kured.drainTimeout")
        drain = max(d if d else default_drain for d in drains)
        allowance = _var_default_s(self, "healthChecks.rebootAllowance")
        needed = drain + allowance
        findings = []
        for pos, mhc in docs.of_kind("MachineHealthCheck", CAPI_GROUP):
            name = dig(mhc, "spec", "clusterName")
            ns = dig(mhc, "metadata", "namespace") or ""
            cluster = docs.named("Cluster", name, ns, CAPI_GROUP) if isinstance(name, str) else None
            if cluster is not None and RULE_REBOOT_TIMEOUT in docs.skipped(cluster[1]):
                continue
            for path, seconds in ready_timeouts(mhc):
                if seconds is None or seconds > needed:
                    continue
                findings.append(
                    Finding(
                        pos,
                        path,
                        f"Ready timeout {format_duration(seconds)} is not longer than Kured's "
                        f"drain ({format_duration(drain)}) plus a reboot "
                        f"({format_duration(allowance)}): CAPI would replace nodes while Kured "
                        f"reboots them; raise it above {format_duration(needed)} (capi-sysext "
                        "--health-check-node-timeout), or lower Kured's --drain-timeout",
                        RULE_REBOOT_TIMEOUT,
                    )
                )
        return findings

    @staticmethod
    def _mhc(
        ctx: ClusterContext[Any],
        s: HealthCheckSettings,
        name: str,
        label: str,
        value: str,
        max_unhealthy: str | None,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "clusterName": ctx.spec.name,
            "selector": {"matchLabels": {label: value}},
        }
        spec.update(
            ctx.shape.health_check(
                HealthCheck(s.startup_timeout_s, s.node_timeout_s, max_unhealthy)
            )
        )
        return {
            "apiVersion": ctx.shape.api(CAPI_GROUP),
            "kind": "MachineHealthCheck",
            "metadata": {"name": name, "namespace": ctx.spec.namespace},
            "spec": spec,
        }


FEATURE = HealthChecks()
