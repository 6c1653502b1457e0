"""capi-sysext: Cluster API cluster definitions for Flatcar nodes that pull Kubernetes as a sysext."""

__version__ = "0.1.0"
