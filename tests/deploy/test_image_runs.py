"""The image, built and run: `make images`' script builds chargeplane:<version> with podman (from a
base made of Debian's packages, since no registry is reachable here), and its entry points run
the way the operator's pods run them: as uid 10001, on a read-only root filesystem with an
empty /tmp, the database migrated by `chargeplane migrate` against the test session's
PostgreSQL on this machine, each service answering /healthz."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from chargeplane.embedded import free_port
from support.requirements import missing_tool

REPO = Path(__file__).resolve().parents[2]
PODMAN = REPO / "scripts" / "podman.sh"
BASE_IMAGE = "localhost/chargeplane-base:bookworm"
INSTALL = "apt-get install podman runc mmdebstrap"
SERVICES = ("ocpp", "sessions", "billing", "telemetry", "auth", "api_gateway")


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(PODMAN), *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def image(repo_root: Path) -> str:
    if shutil.which("podman") is None or shutil.which("mmdebstrap") is None:
        missing_tool("podman and mmdebstrap (to build the image here)", INSTALL)
    base = subprocess.run([str(repo_root / "scripts" / "build-base-image.sh"), BASE_IMAGE],
                          capture_output=True, text=True, timeout=900)
    assert base.returncode == 0, base.stdout + base.stderr
    tag = "localhost/chargeplane:test"
    built = subprocess.run([str(repo_root / "scripts" / "build-image.sh"), tag, "test", BASE_IMAGE],
                           capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return tag


def run_args(image: str, *command: str, env: dict[str, str] | None = None) -> list[str]:
    """`podman run` as a restricted pod runs it: no root, read-only root filesystem, an empty
    /tmp, no capabilities, on the host's network (the test's PostgreSQL listens on loopback)."""
    return ["run", "--rm", "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--network", "host",
            *(f"--env={key}={value}" for key, value in (env or {}).items()), image, *command]


def not_healthy_within(ports: dict[str, int], seconds: float) -> set[str]:
    """The services whose /healthz has not answered 200 within `seconds`."""
    deadline = time.monotonic() + seconds
    waiting = set(ports)
    while waiting and time.monotonic() < deadline:
        for service in sorted(waiting):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[service]}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        waiting.discard(service)
            except OSError:
                pass
        time.sleep(0.5)
    return waiting


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    """A new, empty database in the test session's PostgreSQL."""
    name = f"image_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
        yield database_url.rsplit("/", 1)[0] + f"/{name}"
        await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await conn.close()


def test_the_image_runs_as_a_non_root_user_on_a_read_only_root(image: str) -> None:
    done = podman(*run_args(image, "sh", "-c", "id -u; touch /opt/chargeplane/x 2>&1; touch /tmp/x && echo tmp ok"),
                  check=False)
    lines = done.stdout.splitlines()
    assert lines[0] == "10001"
    assert "Read-only file system" in done.stdout
    assert lines[-1] == "tmp ok"


def test_the_operator_and_emulator_entry_points_start(image: str) -> None:
    assert "usage: python -m chargeplane.operator" in podman(
        *run_args(image, "python", "-m", "chargeplane.operator", "--help")).stdout
    assert "--station-id" in podman(*run_args(image, "chargeplane-emulator", "--help")).stdout
    assert "up" in podman(*run_args(image, "chargeplane", "--help")).stdout


async def test_migrate_then_every_service_answers_healthz(image: str, empty_database: str, redis_url: str) -> None:
    done = podman(*run_args(image, "chargeplane", "migrate", env={"DATABASE_URL": empty_database}))
    assert done.stdout.startswith("applied ") and "none needed" not in done.stdout, done.stdout
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM tariffs WHERE id = 'default'") == 1
    finally:
        await conn.close()

    ports = {service: free_port() for service in SERVICES}
    names = {service: f"chargeplane-test-{service.replace('_', '-')}-{uuid.uuid4().hex[:6]}" for service in SERVICES}
    urls = {f"{service.upper()}_URL": f"http://127.0.0.1:{port}" for service, port in ports.items()}
    try:
        for service in SERVICES:
            env = {"DATABASE_URL": empty_database, "REDIS_URL": redis_url, "HOST": "127.0.0.1",
                   "PORT": str(ports[service]), "SERVICE_NAME": service.replace("_", "-"), "JWT_SECRET": "x" * 48,
                   **urls, "OCPP_HTTP_URL": urls["OCPP_URL"]}
            args = run_args(image, "python", "-m", f"chargeplane.services.{service}", env=env)
            podman(*[args[0], "--detach", "--name", names[service], *args[1:]])
        waiting = await asyncio.to_thread(not_healthy_within, ports, 90)
        logs = {s: podman("logs", names[s], check=False).stdout[-2000:] for s in waiting}
        assert not waiting, f"no /healthz from {sorted(waiting)}: {logs}"
    finally:
        for name in names.values():
            podman("rm", "--force", "--time", "5", name, check=False)
