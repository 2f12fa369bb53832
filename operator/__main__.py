"""`python -m chargeplane.operator`: the operator as its Deployment runs it (one replica,
all namespaces, kopf's liveness probe on the `liveness_port` setting). Every setting comes
from the environment (operator/settings.py); the command line takes none."""

from __future__ import annotations

import argparse

import kopf

from chargeplane.common.logs import configure_logging
from chargeplane.common.tracing import install_tracer_provider, shutdown_tracing

from . import handlers  # noqa: F401  (registers the handlers)
from .constants import MANAGED_BY
from .settings import OperatorSettings


def main(argv: list[str] | None = None) -> None:
    # An argument would be ignored, so none is accepted: a setting is CHARGEPLANE_<FIELD>.
    argparse.ArgumentParser(prog="python -m chargeplane.operator", description=__doc__).parse_args(argv)
    settings = OperatorSettings()
    configure_logging(MANAGED_BY, settings.log_level)
    install_tracer_provider(MANAGED_BY, settings.otlp_endpoint or None)
    try:
        # standalone: one replica (strategy Recreate) needs no peering resources
        kopf.run(clusterwide=True, standalone=True,
                 liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
                 memo=kopf.Memo(settings=settings))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
