"""Jaeger v2 all-in-one beside `chargeplane up`: the services export their traces to it over
OTLP/HTTP and a person opens a charging session's trace in its UI.

Jaeger is not a Python package: `make tools` builds it from its Go module
(github.com/jaegertracing/jaeger/cmd/jaeger) into ~/.cache/chargeplane/tools, and any other
`jaeger` v2 binary works too (on the PATH, or named by $CHARGEPLANE_JAEGER). Its storage is in
memory: traces go when it stops.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .supervisor import SupervisedProcess, wait_ready

JAEGER_BINARY_ENV = "CHARGEPLANE_JAEGER"
# Jaeger's own default ports (moved by `up --port-offset` like the services')
OTLP_HTTP_PORT = 4318
UI_PORT = 16686
QUERY_GRPC_PORT = 16685
HEALTH_PORT = 13133
READY_WITHIN_S = 60.0


def tools_cache() -> Path:
    return Path(os.environ.get("CHARGEPLANE_TOOLS")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chargeplane" / "tools")


def find_jaeger() -> Path | None:
    """$CHARGEPLANE_JAEGER, else `jaeger` on the PATH, else the newest `make tools` build."""
    if explicit := os.environ.get(JAEGER_BINARY_ENV):
        return Path(explicit)
    if on_path := shutil.which("jaeger"):
        return Path(on_path)
    built = [path for path in tools_cache().glob("jaeger-*/jaeger") if (path.parent / ".built").exists()]
    return max(built, key=lambda path: path.stat().st_mtime) if built else None


@dataclass(frozen=True)
class JaegerPorts:
    host: str
    otlp_http: int
    ui: int
    query_grpc: int
    health: int

    @classmethod
    def moved_by(cls, offset: int, host: str) -> JaegerPorts:
        return cls(host, OTLP_HTTP_PORT + offset, UI_PORT + offset, QUERY_GRPC_PORT + offset, HEALTH_PORT + offset)

    @property
    def otlp_endpoint(self) -> str:
        return f"http://{self.host}:{self.otlp_http}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui}"


def jaeger_config(ports: JaegerPorts) -> str:
    """Jaeger's all-in-one configuration (an OpenTelemetry Collector's) cut to what ChargePlane
    uses: an OTLP/HTTP receiver, in-memory storage, the query service with its UI, a health
    check; every listener on `ports.host`, none of Jaeger's other default ports taken."""
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: {ports.host}:{ports.ui}
    grpc:
      endpoint: {ports.host}:{ports.query_grpc}
  healthcheckv2:
    use_v2: true
    http:
      endpoint: {ports.host}:{ports.health}
receivers:
  otlp:
    protocols:
      http:
        endpoint: {ports.host}:{ports.otlp_http}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def start_jaeger(binary: Path, ports: JaegerPorts, data_dir: Path) -> SupervisedProcess:
    """Jaeger under the same supervision as the services (restarted if it dies), ready to receive."""
    config = data_dir / "jaeger.yaml"
    config.write_text(jaeger_config(ports))
    # Jaeger's query service traces itself to an OTLP endpoint of the default port unless told not to
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}
    process = SupervisedProcess("jaeger", [str(binary), "--config", f"file:{config}"], env,
                                data_dir / "logs" / "jaeger.log", data_dir / "pids" / "jaeger.pid")
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "pids").mkdir(parents=True, exist_ok=True)
    process.start()
    try:
        wait_ready(f"http://{ports.host}:{ports.health}", READY_WITHIN_S, process, path="/status")
    except TimeoutError:
        process.stop()
        raise
    return process
