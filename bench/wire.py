"""A lean WebSocket client (RFC 6455) for the load generator: one asyncio Protocol per
station, no per-message objects beyond the frame bytes.

A full client library spends as much CPU per message as the server it measures; this
one spends a few microseconds, so one load generator process outruns one server core.
Frames are masked with the all-zero key: RFC 6455 requires a mask, and a server unmasks
it like any other, but the XOR is free on our side. (The key's unpredictability protects
proxies from cache poisoning, which does not arise on loopback.)
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable
from typing import cast

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
_ZERO_MASK = b"\x00\x00\x00\x00"
# Linux: a bind to port 0 defers the port choice to connect(), which may reuse a port towards
# another destination; without it every bind scans the whole port range in the kernel.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, masked client frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + _ZERO_MASK + payload


class WebSocketClient(asyncio.Protocol):
    """Handshake, then text frames in and out. `on_text` gets each server text frame;
    `on_closed` is called once when the connection ends, whatever ended it."""

    def __init__(self, host: str, path: str, subprotocol: str, on_text: Callable[[bytes], None],
                 on_closed: Callable[[], None]) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
        self._on_text = on_text
        self._on_closed = on_closed
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._closed = False

    # asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self.upgraded.done():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(self._buffer[9:12])
            del self._buffer[: end + 4]
            self.upgraded.set_result(status)
            if status != 101:
                self.close()
                return
        self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self._closed:
            self._closed = True
            self._on_closed()

    # frames ------------------------------------------------------------------------------
    def _read_frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if opcode == OP_TEXT:
                self._on_text(payload)
            elif opcode == OP_PING:
                self.send(payload, OP_PONG)
            elif opcode == OP_CLOSE:
                self.send(payload[:2], OP_CLOSE)  # answer the close handshake, then hang up
                self.close()
                return

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(client_frame(payload, opcode))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(url_host: str, port: int, path: str, subprotocol: str, on_text: Callable[[bytes], None],
                  on_closed: Callable[[], None], source_address: str | None = None) -> WebSocketClient:
    """Open a WebSocket; raise ConnectionError unless the server switched protocols."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if source_address:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source_address, 0))
        await loop.sock_connect(sock, (url_host, port))
    except BaseException:
        sock.close()
        raise
    _, client = await loop.create_connection(
        lambda: WebSocketClient(f"{url_host}:{port}", path, subprotocol, on_text, on_closed), sock=sock)
    status = await client.upgraded
    if status != 101:
        raise ConnectionError(f"handshake answered HTTP {status}")
    return client
