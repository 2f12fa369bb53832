"""`chargeplane up`'s supervisor: per-service settings and the pid files others signal."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from chargeplane import supervisor
from chargeplane.cli import _jwt_secret
from chargeplane.common.settings import TokenSettings
from chargeplane.supervisor import SERVICES, SupervisedProcess, python_module, service_environment


def test_a_double_underscore_variable_sets_one_service_only() -> None:
    base = {"OCPP__SESSIONS_URL": "http://127.0.0.1:9999", "API_GATEWAY__LOG_LEVEL": "DEBUG", "KEEP": "1"}
    gateway = service_environment("ocpp", 8081, SERVICES, "postgresql://db", "redis://r", base)
    billing = service_environment("billing", 8083, SERVICES, "postgresql://db", "redis://r", base)
    api = service_environment("api_gateway", 8080, SERVICES, "postgresql://db", "redis://r", base)
    assert gateway["SESSIONS_URL"] == "http://127.0.0.1:9999"
    assert billing["SESSIONS_URL"] == "http://127.0.0.1:8082"
    assert api["LOG_LEVEL"] == "DEBUG" and "LOG_LEVEL" not in gateway
    assert gateway["KEEP"] == billing["KEEP"] == "1"


def test_a_double_underscore_variable_wins_over_the_gateways_tls_settings(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`chargeplane up` gives the gateway its TLS listener; OCPP__TLS_PORT moves it all the same."""
    monkeypatch.setattr(SupervisedProcess, "start", lambda self: None)
    monkeypatch.setattr(supervisor, "wait_ready", lambda url, timeout, process: None)
    processes = supervisor.start_services(
        {"ocpp": 8081, "billing": 8083}, "postgresql://db", "redis://r", tmp_path,
        extra_env={"OCPP__TLS_PORT": "9443"}, gateway_env={"TLS_PORT": "8443", "TLS_CERT_FILE": "/pki/tls.crt"})
    gateway, billing = (process.env for process in processes)
    assert (gateway["TLS_PORT"], gateway["TLS_CERT_FILE"]) == ("9443", "/pki/tls.crt")
    assert "TLS_PORT" not in billing and "TLS_CERT_FILE" not in billing


def test_the_pid_file_follows_a_restart_and_goes_with_the_stop(tmp_path: Path) -> None:
    pid_path = tmp_path / "sleeper.pid"
    process = SupervisedProcess("sleeper", python_module("http.server", "--bind", "127.0.0.1", "0"), {},
                                tmp_path / "sleeper.log", pid_path)
    process.start()
    try:
        first = int(pid_path.read_text())
        assert process.process is not None and first == process.process.pid
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(10)
        deadline = time.monotonic() + 10
        while process.restarts == 0 and time.monotonic() < deadline:
            process.poll()
            time.sleep(0.05)
        assert process.restarts == 1 and int(pid_path.read_text()) == process.process.pid != first
    finally:
        process.stop()
    assert not pid_path.exists()


def test_up_signs_api_tokens_with_a_random_key_kept_in_the_data_folder(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    first = _jwt_secret(tmp_path)
    assert len(first) >= 64 and first != TokenSettings().jwt_secret
    assert _jwt_secret(tmp_path) == first  # tokens survive a restart of `up`
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0
    (tmp_path / "other").mkdir()
    assert _jwt_secret(tmp_path / "other") != first
    monkeypatch.setenv("JWT_SECRET", "the operator's own key, from the environment")
    assert _jwt_secret(tmp_path) == "the operator's own key, from the environment"
