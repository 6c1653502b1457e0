"""Kured as a ClusterResourceSet add-on: drains, reboots and uncordons nodes one at a time.

Whether Kured is on is the node-side updates feature's `kured.enabled` (one source of truth,
because locksmithd is masked on the nodes exactly then); this feature owns Kured's own settings
and the documents that install it. The manifests are built as data and serialized into a
ConfigMap that the ClusterResourceSet applies to the workload cluster.
"""

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext import yamlio
from capi_sysext.clusterapi import ADDONS_GROUP
from capi_sysext.context import ClusterContext
from capi_sysext.durations import DAY, format_duration
from capi_sysext.features import updates
from capi_sysext.features.base import Feature, typed
from capi_sysext.features.kuredscan import NAME
from capi_sysext.inputs import (
    Variable,
    parse_bool,
    parse_duration,
    parse_int,
    parse_lines,
    parse_str,
    parse_str_list,
    parse_url,
)
from capi_sysext.labels import KURED_LABEL

DEFAULT_IMAGE = "ghcr.io/kubereboot/kured:1.23.0"
NAMESPACE = "kube-system"
SENTINEL_DIR = "/sentinel"  # where the host's /run is mounted inside the Kured pod
WEEKDAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")  # Kured's own spelling
_DAY_NAMES = {
    name: short
    for short, full in zip(
        WEEKDAYS,
        ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"),
        strict=True,
    )
    for name in (short, full[:3], full)
}
_HHMM = r"^([01][0-9]|2[0-3]):([0-5][0-9])$"  # ASCII digits (re's \d takes any script's)


def parse_window(value: Any) -> tuple[str, str]:
    text = parse_str(value)
    start, sep, end = text.partition("-")
    start, end = start.strip(), end.strip()
    if not sep or not re.match(_HHMM, start) or not re.match(_HHMM, end):
        raise ValueError(f"must be START-END in 24-hour HH:MM, e.g. 22:00-04:00, got {text!r}")
    if start == end:
        raise ValueError(f"start and end must differ (an empty window never reboots), got {text!r}")
    return start, end


def parse_days(value: Any) -> tuple[str, ...]:
    items = parse_str_list(value)
    if not items:
        raise ValueError("must name at least one day")
    days: list[str] = []
    for item in items:
        day = _DAY_NAMES.get(item.strip().lower())
        if day is None:
            raise ValueError(f"{item!r} is not a weekday (use mon,tue,... or monday,...)")
        if day not in days:
            days.append(day)
    return tuple(sorted(days, key=WEEKDAYS.index))


def parse_timezone(value: Any) -> str:
    text = parse_str(value)
    if text == "UTC":
        # The default needs no tz database: a machine without one must still accept it, and
        # `generate` does not pay for loading zoneinfo.
        return text
    import zoneinfo  # only needed when validating

    try:
        # A key is ASCII path segments; `Europe` names a directory of zones, not a zone
        # (OSError: IsADirectoryError), and a file that is not TZif data is a ValueError.
        if not re.fullmatch(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", text):
            raise ValueError(text)
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"must be an IANA time zone like UTC or Europe/Berlin, got {text!r}"
        ) from None
    return text


def parse_image(value: Any) -> str:
    text = parse_str(value)
    if re.search(r"\s", text) or not re.match(r"^[a-z0-9][^@]*(@sha256:[0-9a-f]{64})?$", text):
        raise ValueError(f"must be a container image reference, got {text!r}")
    return text


_ENVSUBST = r"\$(\{|[A-Za-z_]|\$)"  # as inputs._SUBSTITUTION: what clusterctl/Flux change


def _no_envsubst(text: str) -> str:
    # clusterctl runs envsubst over the whole output; $NAME or ${...} would be replaced.
    if re.search(_ENVSUBST, text):
        raise ValueError(f"must not contain $ followed by a letter, '_', '{{' or '$', got {text!r}")
    return text


def parse_regexp(value: Any) -> str:
    text = _no_envsubst(parse_str(value))
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return text


def parse_prometheus_url(value: Any) -> str:
    return _no_envsubst(parse_url(value))


class KuredSettings(NamedTuple):
    image: str
    window: tuple[str, str]
    days: tuple[str, ...]
    timezone: str
    concurrency: int
    drain_timeout_s: int
    lock_ttl_s: int
    lock_release_delay_s: int
    period_s: int
    blocking_pod_selectors: tuple[str, ...]
    force_reboot: bool
    annotate_nodes: bool
    reboot_delay_s: int
    drain_grace_period_s: int
    prometheus_url: str | None
    alert_filter_regexp: str | None


def kured_args(s: KuredSettings) -> list[str]:
    """Kured's command line, one list item per flag (no shell: values are never pasted)."""
    args = [
        f"--reboot-sentinel={SENTINEL_DIR}/reboot-required",
        "--reboot-method=command",
        "--reboot-command=/bin/systemctl reboot",
        f"--period={format_duration(s.period_s)}",
        f"--start-time={s.window[0]}",
        f"--end-time={s.window[1]}",
        f"--time-zone={s.timezone}",
        f"--reboot-days={','.join(s.days)}",
        f"--concurrency={s.concurrency}",
        f"--drain-timeout={format_duration(s.drain_timeout_s)}",
        f"--lock-ttl={format_duration(s.lock_ttl_s)}",
        f"--lock-release-delay={format_duration(s.lock_release_delay_s)}",
        f"--force-reboot={'true' if s.force_reboot else 'false'}",
        f"--annotate-nodes={'true' if s.annotate_nodes else 'false'}",
    ]
    args += [f"--blocking-pod-selector={sel}" for sel in s.blocking_pod_selectors]
    # Flags left at Kured's own default are not spelled out (keeps the manifest short).
    if s.reboot_delay_s:
        args.append(f"--reboot-delay={format_duration(s.reboot_delay_s)}")
    if s.drain_grace_period_s != -1:
        args.append(f"--drain-grace-period={s.drain_grace_period_s}")
    if s.prometheus_url:
        args.append(f"--prometheus-url={s.prometheus_url}")
    if s.alert_filter_regexp:
        args.append(f"--alert-filter-regexp={s.alert_filter_regexp}")
    return args


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {"app.kubernetes.io/name": NAME}
    return meta


def manifests(s: KuredSettings) -> list[dict[str, Any]]:
    """What runs in the workload cluster: least-privilege RBAC and the DaemonSet."""
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    selector = {"app.kubernetes.io/name": NAME}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, NAMESPACE)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(NAME),
            "rules": [
                # cordon/uncordon and node annotations
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
                # drain: find and evict (or, past the drain timeout, delete) the node's pods
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete"]},
                {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
                {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(NAME),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(NAME, NAMESPACE),
            "rules": [
                # The reboot lock is an annotation on Kured's own DaemonSet, and nothing else.
                {
                    "apiGroups": ["apps"],
                    "resources": ["daemonsets"],
                    "resourceNames": [NAME],
                    "verbs": ["update"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(NAME, NAMESPACE),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": subject,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _meta(NAME, NAMESPACE),
            "spec": {
                "selector": {"matchLabels": dict(selector)},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": dict(selector)},
                    "spec": {
                        "serviceAccountName": NAME,
                        # nsenter into PID 1's namespaces to run the host's systemctl reboot.
                        "hostPID": True,
                        "restartPolicy": "Always",
                        "priorityClassName": "system-node-critical",
                        "tolerations": [
                            {
                                "key": "node-role.kubernetes.io/control-plane",
                                "operator": "Exists",
                                "effect": "NoSchedule",
                            }
                        ],
                        "containers": [
                            {
                                "name": NAME,
                                "image": s.image,
                                "imagePullPolicy": "IfNotPresent",
                                "securityContext": {"privileged": True},
                                "command": ["/usr/bin/kured"],
                                "args": kured_args(s),
                                "env": [
                                    {
                                        "name": "KURED_NODE_ID",
                                        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                    }
                                ],
                                "ports": [
                                    {"name": "metrics", "containerPort": 8080, "protocol": "TCP"}
                                ],
                                # Kured checks the sentinel inside the pod: the host's /run
                                # mounted here makes /sentinel/reboot-required the host file.
                                "volumeMounts": [
                                    {
                                        "name": "sentinel",
                                        "mountPath": SENTINEL_DIR,
                                        "readOnly": True,
                                    }
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "sentinel",
                                "hostPath": {"path": "/run", "type": "Directory"},
                            }
                        ],
                    },
                },
            },
        },
    ]


class Kured(Feature[KuredSettings]):
    name = "kured"
    depends_on = (updates.FEATURE,)  # whether Kured is on: updates' kured.enabled
    variables = (
        Variable(
            "kured.window",
            "reboot window START-END (24-hour HH:MM, may span midnight)",
            parse_window,
            default="00:00-23:59",
            flag="--kured-window",
        ),
        Variable(
            "kured.rebootDays",
            "days on which Kured may reboot (comma-separated: mon,tue,...)",
            parse_days,
            default=",".join(WEEKDAYS),
            flag="--kured-days",
        ),
        Variable(
            "kured.timeZone",
            "time zone of the reboot window",
            parse_timezone,
            default="UTC",
            flag="--kured-timezone",
        ),
        Variable(
            "kured.concurrency",
            "nodes rebooting at the same time",
            parse_int(1, 100),
            default=1,
            flag="--kured-concurrency",
        ),
        Variable(
            "kured.drainTimeout",
            "give up draining a node after this long (e.g. 30m)",
            parse_duration(60, DAY),
            default="30m",
            flag="--kured-drain-timeout",
        ),
        Variable(
            "kured.lockTtl",
            "release a reboot lock held this long by a node that never came back (0s: never)",
            parse_duration(0),
            default="0s",
            flag="--kured-lock-ttl",
        ),
        Variable(
            "kured.blockingPodSelectors",
            "label selectors of pods that block reboots on their node (one per line/list item)",
            lambda v: tuple(x for x in _selectors(v)),
            default=(),
            flag="--kured-blocking-pod-selector",
        ),
        Variable(
            "kured.image",
            "Kured container image",
            parse_image,
            default=DEFAULT_IMAGE,
            flag="--kured-image",
        ),
        Variable(
            "kured.period", "how often Kured checks the sentinel", parse_duration(10, DAY), "1h"
        ),
        Variable(
            "kured.lockReleaseDelay",
            "wait this long after a reboot before releasing the lock",
            parse_duration(0),
            "0s",
        ),
        Variable(
            "kured.rebootDelay",
            "wait this long after draining before rebooting",
            parse_duration(0),
            "0s",
        ),
        Variable(
            "kured.drainGracePeriod",
            "seconds each pod gets to terminate during the drain (-1: the pod's own setting)",
            parse_int(-1, 86400),
            -1,
        ),
        Variable(
            "kured.forceReboot", "reboot even when the drain failed or timed out", parse_bool, False
        ),
        Variable(
            "kured.annotateNodes", "annotate nodes with Kured's reboot progress", parse_bool, False
        ),
        Variable(
            "kured.prometheusUrl",
            "Prometheus whose active alerts block reboots",
            parse_prometheus_url,
            None,
        ),
        Variable(
            "kured.alertFilterRegexp",
            "alerts whose names match this regexp do not block reboots",
            parse_regexp,
            None,
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> KuredSettings:
        v = {var.key: typed(values, var) for var in self.variables}
        return KuredSettings(
            image=v["kured.image"],
            window=v["kured.window"],
            days=tuple(v["kured.rebootDays"]),
            timezone=v["kured.timeZone"],
            concurrency=v["kured.concurrency"],
            drain_timeout_s=v["kured.drainTimeout"],
            lock_ttl_s=v["kured.lockTtl"],
            lock_release_delay_s=v["kured.lockReleaseDelay"],
            period_s=v["kured.period"],
            blocking_pod_selectors=tuple(v["kured.blockingPodSelectors"]),
            force_reboot=v["kured.forceReboot"],
            annotate_nodes=v["kured.annotateNodes"],
            reboot_delay_s=v["kured.rebootDelay"],
            drain_grace_period_s=v["kured.drainGracePeriod"],
            prometheus_url=v["kured.prometheusUrl"],
            alert_filter_regexp=v["kured.alertFilterRegexp"],
        )

    def enabled(self, features: Mapping[str, object]) -> bool:
        return self.needs(updates.FEATURE, features).kured

    def cluster_labels(self, ctx: ClusterContext[Any]) -> dict[str, str]:
        return {KURED_LABEL: ctx.spec.name} if self.enabled(ctx.spec.features) else {}

    def documents(self, ctx: ClusterContext[Any]) -> list[dict[str, Any]]:
        spec = ctx.spec
        if not self.enabled(spec.features):
            return []
        s = self.of(spec.features)
        name = f"{spec.name}-kured"
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": spec.namespace},
            "data": {"kured.yaml": yamlio.dump_all(manifests(s))},
        }
        crs = {
            "apiVersion": f"{ADDONS_GROUP}/{ctx.shape.version}",
            "kind": "ClusterResourceSet",
            "metadata": {"name": name, "namespace": spec.namespace},
            "spec": {
                # The label this feature puts on the Cluster (generate refuses a second feature
                # giving the same label another value).
                "clusterSelector": {"matchLabels": self.cluster_labels(ctx)},
                # Reconcile: a changed ConfigMap (new window, new image) reaches the cluster.
                "resources": [{"kind": "ConfigMap", "name": name}],
                "strategy": "Reconcile",
            },
        }
        return [configmap, crs]

    def notes(self, ctx: ClusterContext[Any]) -> list[str]:
        defaults = self.settings({v.key: v.default for v in self.variables})
        features = ctx.spec.features
        if not self.enabled(features) and self.of(features) != defaults:
            return ["kured.* settings are ignored: Kured is off (add --kured)"]
        return []


def _selectors(value: Any) -> tuple[str, ...]:
    """Selectors contain commas, so a flag or string value is one selector per line."""
    return parse_lines(value)


FEATURE = Kured()
