from chargeplane.common.web import run_service

from .app import create_app
from .settings import OcppSettings

if __name__ == "__main__":
    settings = OcppSettings()
    # its own listener is the internal API's; stations connect to the station listeners (core/listeners.py)
    run_service(create_app, settings, port=settings.internal_port)
