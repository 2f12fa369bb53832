"""Exactly what the operator may do in the Kubernetes API: the chart's ClusterRole is
rendered from the same list (a test compares them), and the kmock tests check the
operator uses every verb here and nothing else.

Why no more: children are made by create-then-merge-patch (no get, no update), indexes and
the station count come from kopf's own watch of the two custom resources (no list or watch
of Deployments), a generated password or JWT key is only ever created, never read back (pods
get them through secretKeyRef; `get` on Secrets reads a station's own credentials, `patch` keeps
the platform's database URL and the JWT Secret's owners), and status conditions are the
user-facing channel instead of Events. kopf watches CRDs to notice its resources appear; cluster-wide, it never
watches namespaces."""

from __future__ import annotations

RULES: list[dict[str, list[str]]] = [
    {"apiGroups": ["chargeplane.io"], "resources": ["chargingstations", "tariffs"],
     "verbs": ["list", "watch", "patch"]},
    {"apiGroups": ["chargeplane.io"], "resources": ["chargingstations/status", "tariffs/status"],
     "verbs": ["patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create", "patch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
]
