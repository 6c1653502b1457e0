"""Node side of in-place updates: systemd-sysupdate for the Kubernetes sysext, reboot wiring.

Owns every node-level update switch, including whether Kured coordinates reboots (`kured.enabled`):
locksmithd must be masked exactly when Kured is on, and the Kured add-on (features/kured.py) reads
this feature's settings instead of declaring a second on/off variable.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from capi_sysext import unitfile
from capi_sysext.features.base import Feature
from capi_sysext.inputs import Variable, parse_bool, parse_int
from capi_sysext.model import Dropin, File, NodeConfig, Unit
from capi_sysext.node import SYSEXT_DIR, SYSEXT_LINK, NodeRelease

if TYPE_CHECKING:
    from capi_sysext.spec import ClusterSpec

COMPONENT = "kubernetes"
TRANSFER_DIR = f"/etc/sysupdate.{COMPONENT}.d"
NOOP_TRANSFER = "/etc/sysupdate.d/noop.conf"
SYSUPDATE_SERVICE = "systemd-sysupdate.service"
SYSUPDATE_TIMER = "systemd-sysupdate.timer"
SYSUPDATE_DROPIN = "10-capi-sysext-kubernetes.conf"
SYSUPDATE_BIN = "/usr/lib/systemd/systemd-sysupdate"
REBOOT_SENTINEL = "/run/reboot-required"
STATE_DIR = "/run/capi-sysext"
LINK_BEFORE = f"{STATE_DIR}/kubernetes.before"
LINK_AFTER = f"{STATE_DIR}/kubernetes.after"


class UpdateSettings(NamedTuple):
    sysupdate: bool
    instances_max: int
    verify: bool
    kured: bool
    flatcar_updates: bool


def transfer_path(minor: str) -> str:
    return f"{TRANSFER_DIR}/kubernetes-v{minor}.conf"


def source_path(base_url: str) -> str:
    """The bakery serves the index and every image under <base>/kubernetes/ (FACTS s.2)."""
    return f"{base_url.rstrip('/')}/{COMPONENT}/"


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


def transfer_text(
    base_url: str, major: int, minor_number: int, *, verify: bool, instances_max: int
) -> str:
    """A minor-pinned transfer file for any source (nodes, and `mirror --base-url`): every value
    goes through unitfile's escaping, so a URL cannot add a line or a section."""
    minor = f"{int(major)}.{int(minor_number)}"  # integers: safe inside MatchPattern='s text
    return (
        unitfile.load("sysupdate-kubernetes.conf")
        .add(
            "Transfer",
            "Verify",
            "true" if verify else "false",
            comment="HTTP downloads are always checked against <Path>SHA256SUMS; Verify= only "
            "controls the\nGPG signature of that list (SHA256SUMS.gpg).",
        )
        .add("Source", "Path", source_path(base_url))
        .add(
            "Source",
            "MatchPattern",
            # %a is sysupdate's architecture specifier: it must reach the file unescaped.
            unitfile.Specifiers(f"kubernetes-v{minor}.@v-%a.raw"),
            comment="@v is the version wildcard, %a the node's architecture (x86-64 or arm64).",
        )
        .add("Target", "Path", SYSEXT_DIR)
        .add("Target", "CurrentSymlink", SYSEXT_LINK)
        .add("Target", "InstancesMax", str(instances_max))
        .render()
    )


class Updates(Feature):
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
            "locksmithd; generate also deploys Kured (render-node: deploy it yourself)",
            parse_bool,
            default=False,
            flag="--kured/--no-kured",
        ),
        Variable(
            "flatcar.updates",
            "Flatcar OS updates (update-engine); with Kured on, Kured reboots for them too",
            parse_bool,
            default=True,
            flag="--flatcar-updates/--no-flatcar-updates",
        ),
    )

    def settings(self, values: Mapping[str, Any]) -> UpdateSettings:
        return UpdateSettings(
            sysupdate=values["sysupdate.enabled"],
            instances_max=values["sysupdate.instancesMax"],
            verify=values["sysupdate.verify"],
            kured=values["kured.enabled"],
            flatcar_updates=values["flatcar.updates"],
        )

    def node_config(self, settings: Any, release: NodeRelease, role: str) -> NodeConfig:
        s: UpdateSettings = settings
        files: list[File] = []
        # Flatcar >= 4515 enables the timer by default: always say explicitly what we want.
        units: list[Unit] = [Unit(SYSUPDATE_TIMER, enabled=s.sysupdate)]
        if s.sysupdate:
            path = transfer_path(minor_of(release))
            files.append(File(path, 0o644, inline=transfer_file(s, release)))
            files.append(
                File(NOOP_TRANSFER, 0o644, inline=unitfile.load("sysupdate-noop.conf").render())
            )
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
        if s.kured:
            # Kured alone decides when a node reboots (it drains first).
            units.append(Unit("locksmithd.service", mask=True))
        if not s.flatcar_updates:
            units.append(Unit("update-engine.service", mask=True))
        return NodeConfig(files=tuple(files), units=tuple(units))

    def notes(self, spec: "ClusterSpec") -> list[str]:
        s: UpdateSettings = spec.node.features[self.name]
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
