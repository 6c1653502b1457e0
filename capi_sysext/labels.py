"""The labels capi-sysext puts on the Clusters it writes, which add-on selectors (features) and the
runtime-contract rules of clouds and features read. A bottom layer: the spellings only, so a
cloud needs no feature code to read a feature's label."""

# Prefix of the labels features put on the Cluster for their selectors (CRS, HelmChartProxy).
LABEL_PREFIX = "capi-sysext.io"
CLUSTER_LABEL = f"{LABEL_PREFIX}/cluster-name"
CNI_LABEL = f"{LABEL_PREFIX}/cni"
CCM_LABEL = f"{LABEL_PREFIX}/ccm"
CSI_LABEL = f"{LABEL_PREFIX}/csi"
STORAGECLASS_LABEL = f"{LABEL_PREFIX}/storageclass"
# Add-on role (features/addons.py Chart.role, Bundle.role) -> the label whose value says which
# one the Cluster gets.
ROLE_LABELS = {
    "cni": CNI_LABEL,
    "ccm": CCM_LABEL,
    "csi": CSI_LABEL,
    "storageclass": STORAGECLASS_LABEL,
}
# Value: the Cluster's own name, so each cluster's Kured CRS selects only that cluster even when
# several share a namespace.
KURED_LABEL = f"{LABEL_PREFIX}/kured"
