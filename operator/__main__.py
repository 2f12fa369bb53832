"""`python -m chargeplane.operator`: the operator as its Deployment runs it (all namespaces,
peering with other operators so that only one acts, kopf's liveness probe on the
`liveness_port` setting). Every setting comes from the environment (operator/settings.py); the
command line takes none."""

from __future__ import annotations

import argparse
import random

import kopf
from kopf._core.engines.peering import Identity  # kopf's NewType of str, not exported at the top

from chargeplane.common.logs import configure_logging
from chargeplane.common.tracing import install_tracer_provider, shutdown_tracing

from . import handlers  # noqa: F401  (registers the handlers)
from .constants import MANAGED_BY
from .runtime import operator_identity
from .settings import OperatorSettings


def main(argv: list[str] | None = None) -> None:
    # An argument would be ignored, so none is accepted: a setting is CHARGEPLANE_<FIELD>.
    argparse.ArgumentParser(prog="python -m chargeplane.operator", description=__doc__).parse_args(argv)
    settings = OperatorSettings()
    configure_logging(MANAGED_BY, settings.log_level)
    install_tracer_provider(MANAGED_BY, settings.otlp_endpoint or None)
    # two operators of one priority would both pause: a random one makes exactly one of them act
    priority = settings.peering_priority or random.SystemRandom().randrange(1, 2**31)
    identity = operator_identity()
    try:
        kopf.run(clusterwide=True, standalone=not settings.peering, peering_name=settings.peering or None,
                 priority=priority, identity=Identity(identity),
                 liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
                 memo=kopf.Memo(settings=settings, identity=identity, priority=priority))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
