"""`python -m chargeplane.operator`: the operator as its Deployment runs it (one replica,
all namespaces, kopf's liveness probe on LIVENESS_PORT)."""

from __future__ import annotations

import kopf

from chargeplane.common.logs import configure_logging
from chargeplane.common.tracing import install_tracer_provider, shutdown_tracing

from . import handlers  # noqa: F401  (registers the handlers)
from .constants import LIVENESS_PORT, MANAGED_BY
from .settings import OperatorSettings


def main() -> None:
    settings = OperatorSettings()
    configure_logging(MANAGED_BY, settings.log_level)
    install_tracer_provider(MANAGED_BY, settings.otlp_endpoint or None)
    try:
        # standalone: one replica (strategy Recreate) needs no peering resources
        kopf.run(clusterwide=True, standalone=True, liveness_endpoint=f"http://0.0.0.0:{LIVENESS_PORT}/healthz",
                 memo=kopf.Memo(settings=settings))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
