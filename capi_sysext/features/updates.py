"""Node side of in-place updates: systemd-sysupdate for the Kubernetes sysext, reboot wiring.

Owns every node-level update switch, including whether Kured coordinates reboots (`kured.enabled`):
locksmithd must be masked exactly when Kured is on, and the Kured add-on (features/kured.py) reads
this feature's settings instead of declaring a second on/off variable.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

from capi_sysext import unitfile
from capi_sysext.clusterapi import (
    CAPI_GROUP,
    CLC_FIELD,
    CLUSTER_NAME_LABEL,
    KUBEADM_SPECS,
    REFERENCE_PATHS,
    Path,
)
from capi_sysext.context import ClusterContext
from capi_sysext.contracts import SKIP_ANNOTATION, DocumentSet, Finding, dig
from capi_sysext.errors import Problem
from capi_sysext.features.base import Feature
from capi_sysext.inputs import Variable, parse_bool, parse_choice, parse_int
from capi_sysext.layout import (
    COMPONENT,
    NOOP_TRANSFER,
    SYSEXT_LINK,
    noop_text,
    transfer_path,
    transfer_text,
)
from capi_sysext.model import Dropin, File, NodeConfig, Unit
from capi_sysext.node import NodeContext, NodeRelease

SYSUPDATE_SERVICE = "systemd-sysupdate.service"
SYSUPDATE_TIMER = "systemd-sysupdate.timer"
SYSUPDATE_DROPIN = "10-capi-sysext-kubernetes.conf"
SYSUPDATE_BIN = "/usr/lib/systemd/systemd-sysupdate"
REBOOT_SENTINEL = "/run/reboot-required"
STATE_DIR = "/run/capi-sysext"
LINK_BEFORE = f"{STATE_DIR}/kubernetes.before"
LINK_AFTER = f"{STATE_DIR}/kubernetes.after"
UPDATE_ENGINE = "update-engine.service"
LOCKSMITHD = "locksmithd.service"

# How Flatcar OS updates (update-engine, A/B partitions) reach a reboot. Flatcar's reboot
# manager locksmithd reboots right after an update by default, undrained ("The default behavior
# is `reboot`", flatcar/flatcar-website content/docs/latest/updates-releases/releases/
# update-strategies.md:48); a single control-plane node then takes the API server down.
#  - off:    mask update-engine and locksmithd, as CAPZ's and CAPO's flatcar-sysext templates
#            do (cluster-api-provider-azure templates/flavors/flatcar-sysext/
#            machine-deployment.yaml:94-98, cluster-api-provider-openstack
#            templates/cluster-template-flatcar-sysext.yaml:53-57).
#            OS updates then arrive by rolling machines onto a newer image.
#  - kured:  update-engine stages updates; locksmithd masked so Kured alone reboots (drained).
#            Since Flatcar 3067 update-engine itself creates /run/reboot-required, Kured's
#            sentinel (update-strategies.md:23-24 and :330; flatcar-archive/coreos-overlay#1482,
#            "Create reboot flag file for kured"), so no bridge unit is needed.
#  - reboot: Flatcar's own locksmithd reboots nodes after each update, undrained (opt-in).
#  - auto:   kured when Kured is on, else off: the default never reboots undrained.
OS_UPDATE_MODES = ("auto", "off", "kured", "reboot")
RULE_UNDRAINED = "os-updates-undrained-reboot"  # validate rule id (contracts.SKIP_ANNOTATION)
UPDATE_CONF = "/etc/flatcar/update.conf"


class UpdateSettings(NamedTuple):
    sysupdate: bool
    instances_max: int
    verify: bool
    kured: bool
    os_updates: str  # off | kured | reboot ("auto" resolved)


# The sentinel logic: plain files and cmp, no shell variables (the CLC passes through envsubst).
def record_before_script() -> str:
    return f"mkdir -p {STATE_DIR} && readlink -f {SYSEXT_LINK} > {LINK_BEFORE}"


def compare_after_script() -> str:
    return (
        f"readlink -f {SYSEXT_LINK} > {LINK_AFTER}; "
        f"if ! cmp -s {LINK_BEFORE} {LINK_AFTER}; then touch {REBOOT_SENTINEL}; fi"
    )


def minor_of(release: NodeRelease) -> str:
    """The minor, e.g. 1.33. Built from integers, so it may join MatchPattern='s unescaped text."""
    version = release.image.version
    return f"{version.major}.{version.minor}"


def transfer_file(s: UpdateSettings, release: NodeRelease) -> str:
    """The sysupdate transfer pinned to the release's minor, from its skeleton."""
    version = release.image.version
    return transfer_text(
        release.base_url,
        version.major,
        version.minor,
        verify=s.verify,
        instances_max=s.instances_max,
    )


def _clc_stops_undrained_reboots(clc: Mapping[str, Any]) -> bool:
    """Whether a Container Linux Config keeps Flatcar from rebooting on its own after an OS
    update: update-engine or locksmithd masked, locksmith's reboot_strategy off, or
    update.conf with SERVER=disabled / REBOOT_STRATEGY=off (update-strategies.md, "Disable
    Automatic Updates" and the strategy table)."""
    units = dig(clc, "systemd", "units")
    masked = {
        u.get("name")
        for u in (units if isinstance(units, list) else [])
        if isinstance(u, Mapping) and u.get("mask") is True
    }
    if UPDATE_ENGINE in masked or LOCKSMITHD in masked:
        return True
    if dig(clc, "locksmith", "reboot_strategy") == "off":
        return True
    files = dig(clc, "storage", "files")
    for f in files if isinstance(files, list) else []:
        inline = dig(f, "contents", "inline")
        if dig(f, "path") == UPDATE_CONF and isinstance(inline, str):
            lines = {line.strip().replace('"', "") for line in inline.splitlines()}
            if lines & {"SERVER=disabled", "REBOOT_STRATEGY=off"}:
                return True
    return False


def _refers_to(doc: Mapping[str, Any], paths: tuple[Path, ...], kind: str, name: Any) -> bool:
    """Whether one of the object references at paths (clusterapi.REFERENCE_PATHS, v1beta1 and
    v1beta2 locations) names this kind and name."""
    return any(dig(doc, *p, "kind") == kind and dig(doc, *p, "name") == name for p in paths)


def owning_cluster(docs: DocumentSet, kind: str, doc: Mapping[str, Any]) -> Any:
    """The Cluster a KubeadmControlPlane / KubeadmConfigTemplate / KubeadmConfig belongs to, by
    the references CAPI itself follows; with a single Cluster in the input, that one."""
    name = dig(doc, "metadata", "name")
    ns = dig(doc, "metadata", "namespace") or ""
    cluster_name = dig(doc, "metadata", "labels", CLUSTER_NAME_LABEL)
    if kind == "KubeadmControlPlane":
        for _i, c in docs.of_kind("Cluster"):
            if _refers_to(c, REFERENCE_PATHS[(CAPI_GROUP, "Cluster")], kind, name):
                return c
    if kind == "KubeadmConfigTemplate":
        for _i, md in docs.of_kind("MachineDeployment"):
            if _refers_to(md, REFERENCE_PATHS[(CAPI_GROUP, "MachineDeployment")], kind, name):
                cluster_name = dig(md, "spec", "clusterName")
    if isinstance(cluster_name, str):
        found = docs.named("Cluster", cluster_name, ns)
        if found is not None:
            return found[1]
    clusters = list(docs.of_kind("Cluster"))
    return clusters[0][1] if len(clusters) == 1 else None


class Updates(Feature[UpdateSettings]):
    name = "updates"
    node_scope = True
    variables = (
        Variable(
            "sysupdate.enabled",
            "nodes fetch new patch releases of their Kubernetes minor with systemd-sysupdate "
            "and request a reboot",
            parse_bool,
            default=False,
            flag="--sysupdate/--no-sysupdate",
        ),
        Variable(
            "sysupdate.instancesMax",
            "Kubernetes sysext versions kept on a node (the active one plus fallbacks)",
            parse_int(2, 32),
            default=3,
            flag="--sysupdate-instances-max",
        ),
        Variable(
            "sysupdate.verify",
            "require a GPG-signed SHA256SUMS.gpg next to the images (mirrors that sign; "
            "the node needs the signing key)",
            parse_bool,
            default=False,
            flag="--sysupdate-verify/--no-sysupdate-verify",
        ),
        Variable(
            "kured.enabled",
            "Kured drains and reboots nodes one at a time when they request it: nodes mask "
            "locksmithd; generate and render-cluster also deploy Kured (render-node: deploy it "
            "yourself)",
            parse_bool,
            default=False,
            flag="--kured/--no-kured",
        ),
        Variable(
            "os.updates",
            "Flatcar OS updates: off (mask update-engine and locksmithd), kured (update-engine "
            "stages updates, Kured drains and reboots; needs --kured), reboot (Flatcar's "
            "locksmithd reboots undrained), auto (kured with --kured, else off)",
            parse_choice(OS_UPDATE_MODES),
            default="auto",
            flag="--os-updates",
            choices=OS_UPDATE_MODES,
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> UpdateSettings:
        kured = values["kured.enabled"]
        mode = values["os.updates"]
        if mode == "auto":
            mode = "kured" if kured else "off"
        return UpdateSettings(
            sysupdate=values["sysupdate.enabled"],
            instances_max=values["sysupdate.instancesMax"],
            verify=values["sysupdate.verify"],
            kured=kured,
            os_updates=mode,
        )

    def check(self, features: Mapping[str, object]) -> list[Problem]:
        s = self.of(features)
        if s.os_updates == "kured" and not s.kured:
            return [
                Problem(
                    "os.updates is kured, but Kured is off: update-engine would stage updates "
                    "that nothing reboots into",
                    "add flag --kured (values key kured.enabled), or set --os-updates off "
                    "(values key os.updates)",
                )
            ]
        if s.os_updates == "reboot" and s.kured:
            return [
                Problem(
                    "os.updates is reboot while Kured is on: locksmithd would reboot nodes "
                    "undrained behind Kured's back",
                    "set --os-updates kured (values key os.updates) so Kured reboots for OS "
                    "updates too, or drop --kured",
                )
            ]
        return []

    def warnings(self, features: Mapping[str, object]) -> list[str]:
        s = self.of(features)
        if s.os_updates != "reboot":
            return []
        return [
            "--os-updates reboot: Flatcar's locksmithd reboots each node right after an OS "
            "update, without draining it; a single control-plane node takes the API server "
            "down meanwhile. Use --kured (drained, one node at a time) for production."
        ]

    def node_config(self, ctx: NodeContext[Any]) -> NodeConfig:
        s, release = self.of(ctx.node.features), ctx.release
        files: list[File] = []
        # Flatcar >= 4515 enables the timer by default: always say explicitly what we want.
        units: list[Unit] = [Unit(SYSUPDATE_TIMER, enabled=s.sysupdate)]
        if s.sysupdate:
            path = transfer_path(minor_of(release))
            files.append(File(path, 0o644, inline=transfer_file(s, release)))
            files.append(File(NOOP_TRANSFER, 0o644, inline=noop_text()))
            dropin = (
                unitfile.load("sysupdate-service.conf")
                .add("Service", "ExecStartPre", unitfile.shell(record_before_script()))
                .add(
                    "Service",
                    "ExecStartPre",
                    unitfile.Exec((SYSUPDATE_BIN, "-C", COMPONENT, "update")),
                )
                .add("Service", "ExecStartPost", unitfile.shell(compare_after_script()))
            )
            units.append(
                Unit(SYSUPDATE_SERVICE, dropins=(Dropin(SYSUPDATE_DROPIN, dropin.render()),))
            )
        if s.kured or s.os_updates == "off":
            # Kured alone decides when a node reboots (it drains first); or nothing does.
            units.append(Unit(LOCKSMITHD, mask=True))
        if s.os_updates == "off":
            units.append(Unit(UPDATE_ENGINE, mask=True))
        else:
            # Explicit, so the node config says what it relies on (and validate can see it).
            units.append(Unit(UPDATE_ENGINE, enabled=True))
        if s.os_updates == "reboot":
            units.append(Unit(LOCKSMITHD, enabled=True))
        return NodeConfig(files=tuple(files), units=tuple(units))

    def skipped_rules(self, ctx: ClusterContext[Any]) -> list[str]:
        s = self.of(ctx.spec.features)
        # --os-updates reboot is a knowing choice; record it where validate looks for one.
        return [RULE_UNDRAINED] if s.os_updates == "reboot" else []

    def check_documents(self, docs: DocumentSet, owners: Mapping[str, str]) -> list[Finding]:
        """A Flatcar node config that lets update-engine + locksmithd reboot nodes undrained."""
        from capi_sysext import yamlio
        from capi_sysext.errors import InputError
        from capi_sysext.features.kuredscan import kured_in

        kured = bool(kured_in(docs))
        findings = []
        for (group, kind), path in KUBEADM_SPECS.items():
            if kind == "KubeadmControlPlaneTemplate":
                continue  # a ClusterClass template: no Cluster of its own to check against
            for pos, doc in docs.of_kind(kind, group):
                spec = dig(doc, *path)
                if dig(spec, "format") != "ignition":
                    continue  # not a Flatcar (Ignition) node
                cluster = owning_cluster(docs, kind, doc)
                if cluster is not None and RULE_UNDRAINED in docs.skipped(cluster):
                    continue
                text = dig(spec, *CLC_FIELD)
                try:
                    loaded = yamlio.load_all(text, kind) if isinstance(text, str) else []
                except InputError:
                    continue  # the CLC checks report unparseable configs
                clc = loaded[0] if len(loaded) == 1 and isinstance(loaded[0], Mapping) else {}
                if _clc_stops_undrained_reboots(clc):
                    continue
                where = "$." + ".".join((*path, *CLC_FIELD))
                if kured:
                    what = (
                        "locksmithd.service is not masked: besides Kured, Flatcar's locksmithd "
                        "reboots these nodes undrained after each OS update; add {name: "
                        "locksmithd.service, mask: true} under systemd.units (capi-sysext "
                        "generate --kured does)"
                    )
                else:
                    what = (
                        "update-engine and locksmithd are not masked and no Kured is in the "
                        "input: every node reboots itself undrained after each Flatcar release "
                        "(a single control-plane node takes the API server down); mask both "
                        "under systemd.units (capi-sysext generate --os-updates off), or deploy "
                        "Kured and mask locksmithd (--kured)"
                    )
                findings.append(
                    Finding(
                        pos,
                        where,
                        f"{what}; to accept undrained reboots, annotate the Cluster with "
                        f"{SKIP_ANNOTATION}: {RULE_UNDRAINED}",
                        RULE_UNDRAINED,
                    )
                )
        return findings

    def notes(self, ctx: ClusterContext[Any]) -> list[str]:
        s = self.of(ctx.spec.features)
        notes = []
        if s.sysupdate:
            notes.append(
                "sysupdate updates kubelet, kubeadm and kubectl in place; control-plane static "
                "pods keep their version until you run kubeadm upgrade (or roll the control "
                "plane by changing the KubeadmControlPlane version)."
            )
            if not s.kured:
                notes.append(
                    "--sysupdate without --kured: nodes stage updates and create "
                    "/run/reboot-required, but nothing reboots them; add --kured or reboot "
                    "nodes yourself."
                )
            if s.verify:
                notes.append(
                    "--sysupdate-verify: each node needs the mirror's GPG public key in "
                    "systemd's import keyring, or every update is refused."
                )
        return notes


FEATURE = Updates()
