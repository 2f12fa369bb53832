"""Loopback TCP proxies that misbehave on demand: the network between two services.

Each proxy forwards its own port to a target port and can, until told otherwise,
`blackhole` (bytes stop moving both ways, as when packets are dropped: TCP loses
nothing, the peers just wait), `delay` every chunk, or `reset` every connection (RST, and
every new one straight after accept). The proxies run on an event loop in their own
thread, so whatever blocks the test (restarting PostgreSQL, say) never stalls them.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from chargeplane.embedded import free_port

CHUNK = 64 * 1024


class Mode(StrEnum):
    PASS = "pass"
    BLACKHOLE = "blackhole"
    DELAY = "delay"
    RESET = "reset"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: SO_LINGER with a zero timeout."""
    if writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class FaultyProxy:
    name: str
    listen_port: int
    target_port: int | None = None
    mode: Mode = Mode.PASS
    latency_s: float = 0.0
    # set while bytes may move; cleared by a blackhole
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)
    _live: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def apply(self, mode: Mode, latency_s: float = 0.0) -> None:
        """Switch mode; call on the proxies' loop."""
        self.mode, self.latency_s = mode, latency_s
        if mode is Mode.BLACKHOLE:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode is Mode.RESET:
            for writer in list(self._live):
                _reset(writer)

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.mode is Mode.RESET or self.target_port is None:
            _reset(client_writer)
            return
        await self._flowing.wait()  # a blackholed SYN is never answered: the connect just waits
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _reset(client_writer)  # what a refused connection looks like to the client
            return
        self._live |= {client_writer, upstream_writer}
        try:
            await asyncio.gather(self._pump(client_reader, upstream_writer),
                                 self._pump(upstream_reader, client_writer))
        finally:
            self._live -= {client_writer, upstream_writer}
            for writer in (client_writer, upstream_writer):
                writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                if self.mode is Mode.DELAY:
                    await asyncio.sleep(self.latency_s)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


class ProxyNetwork:
    """Named proxies on one background event loop; the methods are called from any thread."""

    def __init__(self, names: list[str]) -> None:
        self.proxies = {name: FaultyProxy(name, free_port()) for name in names}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxies", daemon=True)
        self._servers: list[asyncio.Server] = []

    def _run(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _start(self) -> None:
        for proxy in self.proxies.values():
            proxy.apply(Mode.PASS)
            self._servers.append(await asyncio.start_server(proxy.handle, "127.0.0.1", proxy.listen_port))

    async def _stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.apply(Mode.RESET)
        for server in self._servers:
            server.close()

    def start(self) -> None:
        self._thread.start()
        self._run(self._start())

    def stop(self) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def set_target(self, name: str, port: int) -> None:
        self.proxies[name].target_port = port

    def set_mode(self, name: str, mode: Mode, latency_s: float = 0.0) -> None:
        self._loop.call_soon_threadsafe(self.proxies[name].apply, mode, latency_s)


@contextmanager
def proxy_network(names: list[str]) -> Iterator[ProxyNetwork]:
    network = ProxyNetwork(names)
    network.start()
    try:
        yield network
    finally:
        network.stop()
