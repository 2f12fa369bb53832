"""`chargeplane up`: the whole platform on one machine, supervised like a kubelet would.

Each service runs as its own process (`python -P -m chargeplane.services.<name>`: -P keeps
the working directory off sys.path, so a service imports what is installed whatever folder
it was started in); one that dies is restarted with exponential backoff, and the restart is logged.
Each process's pid is kept in `<data dir>/pids/<service>.pid`, for whoever wants to signal
one (the fault-injection suite kills them).

A variable `<SERVICE>__<NAME>` in the environment sets `NAME` for that service only, over
whatever `up` would set: `OCPP__SESSIONS_URL=http://127.0.0.1:9000` points the gateway (and
nobody else) at a proxy, `OCPP__TLS_PORT=9443` moves its TLS listener.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chargeplane.common.logs import get_logger

log = get_logger(__name__)

# name -> the default port of its HTTP API (the gateway's: its internal API, never published);
# the order is the start order (downstream services first).
SERVICES: dict[str, int] = {
    "auth": 8085, "telemetry": 8084, "billing": 8083, "sessions": 8082, "ocpp": 8086, "api_gateway": 8080,
}
# The gateway's listeners for stations, plain and TLS (OCPP security profiles 2 and 3), moved by
# --port-offset too.
GATEWAY_PORT = 8081
TLS_PORT = 8443
RESTART_BACKOFF_MAX = 30.0


def python_module(module: str, *args: str) -> list[str]:
    """The command line that runs `python -m module` in this interpreter.

    `-P` keeps the working directory off sys.path: a process of the platform imports what is
    installed, never a module that happens to lie in the folder it was started in.
    """
    return [sys.executable, "-P", "-m", module, *args]


def service_urls(ports: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, str]:
    return {name: f"http://{host}:{port}" for name, port in ports.items()}


def service_environment(name: str, port: int, ports: Mapping[str, int], database_url: str, redis_url: str,
                        base: Mapping[str, str], own: Mapping[str, str] | None = None,
                        host: str = "127.0.0.1") -> dict[str, str]:
    """`own`: what the platform sets for this service alone (the gateway's TLS listener and CA).
    An explicit `<SERVICE>__<NAME>` in `base` comes last, so it wins over everything."""
    urls = service_urls(ports, host)
    env = dict(base)
    env.update({
        "SERVICE_NAME": name.replace("_", "-"), "HOST": host, "PORT": str(port),
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        **{f"{service.upper()}_URL": url for service, url in urls.items() if service not in ("ocpp", "api_gateway")},
        **({"OCPP_HTTP_URL": urls["ocpp"]} if "ocpp" in urls else {}),
        "OTEL_SERVICE_NAME": name.replace("_", "-"),
        **(own or {}),
    })
    prefix = f"{name.upper()}__"
    env.update({key.removeprefix(prefix): value for key, value in base.items() if key.startswith(prefix)})
    return env


@dataclass
class SupervisedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    # where the running process's pid is written, if anywhere
    pid_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    backoff: float = 0.5
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.started_at = time.monotonic()
        if self.pid_path is not None:
            self.pid_path.write_text(f"{self.process.pid}\n")

    def poll(self) -> None:
        """Restart the process if it died, with backoff that resets after a minute of health."""
        if self.process is None:
            return
        code = self.process.poll()
        now = time.monotonic()
        if code is None:
            if now - self.started_at > 60:
                self.backoff = 0.5
            return
        if self.next_start == 0.0:
            self.next_start = now + self.backoff
            log.warning("service exited, restarting", service=self.name, exit_code=code,
                        restart_in_s=round(self.backoff, 2))
            return
        if now >= self.next_start:
            self.restarts += 1
            self.backoff = min(self.backoff * 2, RESTART_BACKOFF_MAX)
            self.next_start = 0.0
            self.start()
            log.info("service restarted", service=self.name, restarts=self.restarts, pid=self.process.pid)

    def exited(self) -> int | None:
        """Its exit code once it has exited; None while it runs, or before it is started."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 25.0) -> None:
        if self.pid_path is not None:
            self.pid_path.unlink(missing_ok=True)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop_on_signals() -> threading.Event:
    """Set by SIGTERM or SIGINT (Ctrl-C): a foreground command loops until it is set, then stops
    what it started."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def wait_ready(url: str, timeout: float, process: SupervisedProcess, path: str = "/readyz") -> None:
    """Until `url + path` answers 200; an error at once if the process exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (code := process.exited()) is not None:
            raise RuntimeError(f"{process.name} exited with code {code}; "
                               f"see {process.log_path}")
        try:
            with urllib.request.urlopen(url + path, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{process.name} not ready at {url} after {timeout:.0f} s; see {process.log_path}")


def start_services(ports: Mapping[str, int], database_url: str, redis_url: str, data_dir: Path,
                   extra_env: Mapping[str, str] | None = None,
                   gateway_env: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> list[SupervisedProcess]:
    """Start every service, listening on `host`; logs go to `data_dir/logs`, pids to
    `data_dir/pids`. `ports` are the services' HTTP APIs'; `gateway_env` is the ocpp gateway's
    own (its station and TLS listeners, its CA)."""
    log_dir, pid_dir = data_dir / "logs", data_dir / "pids"
    log_dir.mkdir(parents=True, exist_ok=True)
    pid_dir.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, **(extra_env or {})}
    processes = []
    for name, port in ports.items():
        env = service_environment(name, port, ports, database_url, redis_url, base,
                                  gateway_env if name == "ocpp" else None, host)
        process = SupervisedProcess(name, python_module(f"chargeplane.services.{name}"), env, log_dir / f"{name}.log",
                                    pid_dir / f"{name}.pid")
        process.start()
        processes.append(process)
    for process in processes:
        wait_ready(f"http://{host}:{ports[process.name]}", 60, process)
    return processes
