"""Exactly what the operator may do in the Kubernetes API: the chart's ClusterRole is
rendered from the same list (a test compares them), and the kmock tests check the
operator uses nothing else."""

from __future__ import annotations

RULES: list[dict[str, list[str]]] = [
    {"apiGroups": ["chargeplane.io"], "resources": ["chargingstations", "tariffs"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["chargeplane.io"], "resources": ["chargingstations/status", "tariffs/status"],
     "verbs": ["get", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch", "create", "patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
]
