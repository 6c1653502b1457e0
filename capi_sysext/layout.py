"""Where things live: the bakery's (and a mirror's) URL layout, and the paths on a node.

One home for these spellings: the index reader, the mirror writer, the node model and the update
feature all build their URLs and paths here. The bakery layout (first boot reads <base>/<image>,
systemd-sysupdate reads <base>/kubernetes/ and its SHA256SUMS) is the redirect table of
flatcar/sysext-bakery tools/http-url-rewrite-server/Caddyfile:29-58 and the source Path of
lib/sysupdate.conf.tmpl:6; the node paths are the bakery's docs/kubernetes.md:33-46 and
lib/sysupdate.conf.tmpl:10-13 (all at 80959c1). The sysupdate files are built through unitfile,
so a URL cannot add a line or a section.
"""

from capi_sysext import unitfile

# The sysext (and sysupdate component) name: the image's extension-release file is named
# "kubernetes", so systemd-sysext merges it only under this name (uapi-group/specifications
# specs/extension_image.md:154-156, at ed66b52).
COMPONENT = "kubernetes"
INDEX_NAME = "SHA256SUMS"
INDEX_PATH = f"{COMPONENT}/{INDEX_NAME}"  # relative to the base URL
NOOP_NAME = "noop.conf"  # a mirror serves it next to the images, nodes keep it in sysupdate.d

# On the node.
SYSEXT_DIR = f"/opt/extensions/{COMPONENT}"
SYSEXT_LINK = f"/etc/extensions/{COMPONENT}.raw"
TRANSFER_DIR = f"/etc/sysupdate.{COMPONENT}.d"
NOOP_TRANSFER = f"/etc/sysupdate.d/{NOOP_NAME}"
# Flatcar's metadata agent (Afterburn, named coreos-metadata there for history: coreos/afterburn
# docs/container-linux-legacy.md) writes the cloud's COREOS_<CLOUD>_* attributes to this file
# (flatcar.org/docs/latest/provisioning/ignition/dynamic-data/).
METADATA_UNIT = "coreos-metadata.service"
METADATA_FILE = "/run/metadata/flatcar"


def normalize_base_url(base_url: str) -> str:
    return base_url.strip().rstrip("/")


def index_url(base_url: str) -> str:
    return f"{normalize_base_url(base_url)}/{INDEX_PATH}"


def image_url(base_url: str, filename: str) -> str:
    """Where first boot downloads an image: directly under the base URL."""
    return f"{normalize_base_url(base_url)}/{filename}"


def source_url(base_url: str) -> str:
    """Where sysupdate looks: the bakery serves index and images under <base>/kubernetes/."""
    return f"{normalize_base_url(base_url)}/{COMPONENT}/"


def image_path(filename: str) -> str:
    """Where a node keeps a downloaded image (sysupdate's target directory)."""
    return f"{SYSEXT_DIR}/{filename}"


def transfer_name(minor: str) -> str:
    """The minor-pinned transfer file's name (`1.33` -> kubernetes-v1.33.conf)."""
    return f"{COMPONENT}-v{minor}.conf"


def transfer_path(minor: str) -> str:
    return f"{TRANSFER_DIR}/{transfer_name(minor)}"


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
        .add("Source", "Path", source_url(base_url))
        .add(
            "Source",
            "MatchPattern",
            # %a is sysupdate's architecture specifier: it must reach the file unescaped.
            unitfile.Specifiers(f"{COMPONENT}-v{minor}.@v-%a.raw"),
            comment="@v is the version wildcard, %a the node's architecture (x86-64 or arm64).",
        )
        .add("Target", "Path", SYSEXT_DIR)
        .add("Target", "CurrentSymlink", SYSEXT_LINK)
        .add("Target", "InstancesMax", str(instances_max))
        .render()
    )


def noop_text() -> str:
    """A transfer whose source pattern never matches: sysupdate's default component then has a
    definition (no "No transfer definitions found") and does nothing."""
    return unitfile.load("sysupdate-noop.conf").render()
