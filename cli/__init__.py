"""ChargePlane: an OCPP 1.6J charging station management system for Kubernetes."""

__version__ = "0.1.0"
