"""The ChargePlane Kubernetes operator (kopf): ChargingStation and Tariff resources."""
