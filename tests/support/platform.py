"""`chargeplane up` as a user runs it: its own process tree on free ports, its env file."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chargeplane.common.platformenv import PLATFORM_ENV_NAME, read_platform_env
from chargeplane.embedded import free_port
from chargeplane.jaeger import HEALTH_PORT, OTLP_HTTP_PORT, QUERY_GRPC_PORT, UI_PORT
from chargeplane.supervisor import GATEWAY_PORT, SERVICES, TLS_PORT, python_module

JAEGER_PORTS = (OTLP_HTTP_PORT, UI_PORT, QUERY_GRPC_PORT, HEALTH_PORT)


@dataclass
class RunningPlatform:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    data_dir: Path

    def cli(self, *args: str) -> str:
        done = subprocess.run(python_module("chargeplane", *args), env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout


def _ports_free(ports: list[int], host: str = "127.0.0.1") -> bool:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_loopback_host() -> str:
    """A loopback address (Linux routes all of 127/8 to lo) where the services' default ports are
    free: other test runs and `chargeplane up` on this machine use the same ports elsewhere."""
    rng = random.SystemRandom()
    for _ in range(100):
        host = f"127.{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if _ports_free([*SERVICES.values(), GATEWAY_PORT, TLS_PORT], host):
            return host
    raise RuntimeError("no loopback address with the services' ports free")


def interrupt(process: subprocess.Popen[bytes], within_s: float) -> bool:
    """Stop a process as Ctrl-C does; False when it had to be killed after `within_s`."""
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGINT)
    try:
        process.wait(within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True


@contextmanager
def running_platform(log_path: Path, extra_env: dict[str, str] | None = None,
                     host: str | None = None, jaeger: bool = False) -> Iterator[RunningPlatform]:
    """`chargeplane up` on embedded servers of its own, unless `extra_env` names
    `DATABASE_URL` / `REDIS_URL` (the caller's servers, e.g. ones it crashes on purpose).
    With `host` (see free_loopback_host) the services listen there on their default ports,
    else on 127.0.0.1 with the ports moved by a free offset. `jaeger`: Jaeger beside it
    (`up --jaeger on`; $CHARGEPLANE_JAEGER names the binary), else none."""
    offset = 0
    while host is None:
        offset = random.randrange(5000, 22000, 10)  # below the ephemeral port range
        if _ports_free([port + offset for port in (*SERVICES.values(), GATEWAY_PORT, TLS_PORT, *JAEGER_PORTS)]):
            break
    # not under pytest's basetemp (see tests/conftest.py)
    data_dir = Path(tempfile.mkdtemp(prefix="chargeplane-platform-"))
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra_env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            python_module("chargeplane", "up", "--data-dir", str(data_dir), "--port-offset", str(offset),
                          "--host", host or "127.0.0.1", "--jaeger", "on" if jaeger else "off",
                          "--postgres-port", str(free_port()), "--redis-port", str(free_port())),
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    platform_env = data_dir / PLATFORM_ENV_NAME
    deadline = time.monotonic() + 120
    while not platform_env.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"chargeplane up did not come up:\n{log_path.read_text()}")
        time.sleep(0.1)
    values = read_platform_env(platform_env)
    try:
        yield RunningPlatform(process, values, data_dir)
    finally:
        if not interrupt(process, 60):
            raise AssertionError("chargeplane up did not stop within 60 s of Ctrl-C; it was killed")
        # the service logs stay beside the test's log, for whoever reads a failure
        shutil.copytree(data_dir / "logs", log_path.parent / "logs", dirs_exist_ok=True)
        shutil.rmtree(data_dir, ignore_errors=True)
        assert not platform_env.exists(), "platform.env must be removed on a clean stop"
