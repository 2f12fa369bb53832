"""The fault-injection suite's own machinery must do what it says, or a chaos run would pass
without a fault ever happening."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from support.faults import FaultKind, plan_faults
from support.tcp_proxy import Mode, ProxyNetwork, proxy_network

SERVICES = ["ocpp", "sessions", "billing"]
LINKS = ["a->b", "b->c"]


def test_a_seed_plans_the_same_faults_and_a_short_run_has_each_kind_twice() -> None:
    plan = plan_faults(7, 12, SERVICES, LINKS)
    assert plan == plan_faults(7, 12, SERVICES, LINKS) != plan_faults(8, 12, SERVICES, LINKS)
    assert Counter(fault.kind for fault in plan) == dict.fromkeys(FaultKind, 2)
    assert {fault.target for fault in plan_faults(7, 60, SERVICES, LINKS) if fault.kind is FaultKind.KILL} \
        == set(SERVICES)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the proxy reset us: that is its job
    finally:
        writer.close()


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A loopback echo server on an event loop in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(asyncio.start_server(_echo, "127.0.0.1", 0), loop).result(5)
    yield server.sockets[0].getsockname()[1]

    async def close() -> None:
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def network(echo_port: int) -> Iterator[ProxyNetwork]:
    with proxy_network(["echo"]) as proxies:
        proxies.set_target("echo", echo_port)
        yield proxies


def roundtrip(port: int, timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(b"ping")
        return conn.recv(4)


def test_the_proxy_passes_delays_blackholes_and_resets(network: ProxyNetwork) -> None:
    port = network.proxies["echo"].listen_port
    assert roundtrip(port) == b"ping"

    network.set_mode("echo", Mode.DELAY, 0.3)
    began = time.monotonic()
    assert roundtrip(port) == b"ping" and time.monotonic() - began >= 0.6  # each way

    network.set_mode("echo", Mode.BLACKHOLE)
    with pytest.raises(TimeoutError):
        roundtrip(port, timeout=0.5)

    network.set_mode("echo", Mode.RESET)
    time.sleep(0.1)
    with pytest.raises(ConnectionError):
        roundtrip(port)

    network.set_mode("echo", Mode.PASS)
    time.sleep(0.1)
    assert roundtrip(port) == b"ping"


def test_bytes_held_by_a_blackhole_arrive_once_it_heals(network: ProxyNetwork) -> None:
    port = network.proxies["echo"].listen_port
    with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
        conn.sendall(b"one")
        assert conn.recv(3) == b"one"
        network.set_mode("echo", Mode.BLACKHOLE)
        time.sleep(0.1)
        conn.sendall(b"two")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(3)
        network.set_mode("echo", Mode.PASS)
        conn.settimeout(3)
        assert conn.recv(3) == b"two"  # nothing lost: TCP under a blackhole only waits


async def test_a_reset_aborts_the_connections_already_open(network: ProxyNetwork) -> None:
    port = network.proxies["echo"].listen_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    network.set_mode("echo", Mode.RESET)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(4), 2)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
