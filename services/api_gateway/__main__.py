from chargeplane.common.web import run_service

from .app import create_app
from .settings import ApiGatewaySettings

if __name__ == "__main__":
    run_service(create_app, ApiGatewaySettings())
