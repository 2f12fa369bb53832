"""Exactly what the operator may do in the Kubernetes API: the chart's ClusterRole is
rendered from the same list (a test compares them), and a test on the real API server reads its
audit log to check the operator uses every verb here and nothing else.

Why no more: what the operator makes is server-side applied (a PATCH that creates what is
missing, so the API server asks for `create` as well as `patch`; no get, no update), indexes
and the station count come from kopf's own watch of the custom resources (no list or watch of
Deployments), a generated password or JWT key is only ever created, never read back (pods get
them through secretKeyRef; `get` on Secrets reads a station's own credentials), and status
conditions are the user-facing channel instead of Events. kopf watches CRDs to notice its
resources appear and its peering object to learn of other operators (the namespaces' loops
`get` it to know whether to act); cluster-wide, it never watches namespaces."""

from __future__ import annotations

RULES: list[dict[str, list[str]]] = [
    {"apiGroups": ["chargeplane.io"], "resources": ["chargingstations", "tariffs"],
     "verbs": ["list", "watch", "patch"]},
    # the namespace's Platform: applied (created or updated) and removed by the operator
    {"apiGroups": ["chargeplane.io"], "resources": ["platforms"],
     "verbs": ["list", "watch", "create", "patch", "delete"]},
    {"apiGroups": ["chargeplane.io"], "resources": ["chargingstations/status", "tariffs/status", "platforms/status"],
     "verbs": ["patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create", "patch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["create", "patch"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["create", "patch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
    # kopf's peering: of several operators only one acts
    {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"],
     "verbs": ["get", "list", "watch", "create", "patch"]},
]
