"""capi-sysext: Cluster API clusters of Flatcar nodes that pull Kubernetes as a sysext."""

__version__ = "0.1.0"
