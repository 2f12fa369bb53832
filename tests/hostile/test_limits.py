"""The gateway's limits, each hit on purpose: a bad station id at the handshake, a flood of
messages, a handshake that never completes, a socket that goes silent, a frame too large.
Each is refused cleanly, logged, and costs nobody else anything."""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import quote, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from support.platform import RunningPlatform

from .conftest import gateway_rss_kib, log_events, upgrade_status

REFUSED_IDS = ["../x", "a'--", "CP 1", "CP\x00", "CP\x1b[31m", "CP\r\nX-Injected: 1", "ΣΤΑΘΜΟΣ-1", "x" * 49, ""]


@pytest.mark.parametrize("station_id", REFUSED_IDS, ids=repr)
def test_a_station_id_outside_the_charset_or_too_long_is_refused_at_the_handshake(
    platform: RunningPlatform, ocpp_url: str, station_id: str
) -> None:
    assert upgrade_status(f"{ocpp_url}/ws?station_id={quote(station_id, safe='')}") == 400
    refused = [e for e in log_events(platform, "ocpp", "station id refused") if e["station_id"] == station_id[:64]]
    assert refused, "refusals are logged"


def test_a_10_kb_station_id_is_refused_and_the_gateway_serves_on(platform: RunningPlatform, ocpp_url: str) -> None:
    # refused by the HTTP parser (request line > 8 KiB), in an HTTP/1.0 reply websockets will not read
    connection = http.client.HTTPConnection(urlsplit(ocpp_url).netloc, timeout=10)
    connection.request("GET", f"/ocpp/{'A' * 10240}", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert connection.getresponse().status == 400
    connection.close()
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        ws.send(json.dumps([2, "alive", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3


def test_a_flooding_station_is_slowed_down_not_cut_off(platform: RunningPlatform, ocpp_url: str) -> None:
    frames = 300  # the hostile platform allows 100 a second, in bursts of 100
    with connect(f"{ocpp_url}/FLOOD-1", subprotocols=["ocpp1.6"]) as ws:
        started = time.monotonic()
        # Answered without the database, so far faster than 100 a second even on a loaded
        # machine: only the limit can slow them down.
        for number in range(frames):
            ws.send(json.dumps([2, f"flood-{number}", "Flood", {}]))
        replies = [json.loads(ws.recv(timeout=30)) for _ in range(frames)]
        elapsed = time.monotonic() - started
        ws.send(json.dumps([2, "after", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=30))[:2] == [3, "after"]
    assert [reply[:3] for reply in replies] == [[4, f"flood-{number}", "NotImplemented"] for number in range(frames)]
    assert elapsed >= (frames - 100) / 100 * 0.9, f"{frames} messages served in {elapsed:.2f} s"
    episodes = [e for e in log_events(platform, "ocpp", "station rate limited") if e["station_id"] == "FLOOD-1"]
    assert 1 <= len(episodes) <= 3, "logged once a flood, not once a message"


def test_a_handshake_that_never_completes_is_closed(platform: RunningPlatform) -> None:
    """Slowloris: the upgrade request's headers trickle in, a byte at a time, for ever."""
    port = urlsplit(platform.env["OCPP_URL"]).port
    with socket.create_connection(("127.0.0.1", port or 0), timeout=0.3) as sock:
        sock.sendall(b"GET /ocpp/FUZZ-2 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        while time.monotonic() - started < 15:
            try:
                sock.sendall(b"a")
                if sock.recv(1024) == b"":
                    break
            except TimeoutError:
                continue
            except ConnectionError:
                break
        held = time.monotonic() - started
    assert held < 2 + 2, f"a handshake pending for {held:.1f} s (limit 2 s)"


def test_an_open_socket_outlives_the_handshake_timeout(ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        time.sleep(3)  # the hostile platform's handshake timeout is 2 s, the heartbeat interval 300 s
        ws.send(json.dumps([2, "still-there", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[:2] == [3, "still-there"]


def test_a_silent_station_is_closed_after_three_heartbeat_intervals(
    platform: RunningPlatform, ocpp_url: str
) -> None:
    with connect(f"{ocpp_url}/IDLE-1", subprotocols=["ocpp1.6"]) as ws:  # heartbeat interval: 1 s
        ws.send(json.dumps([2, "hello", "Heartbeat", {}]))
        ws.recv(timeout=10)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
        silent = time.monotonic() - started
    assert 2.5 <= silent < 6 and closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert [e for e in log_events(platform, "ocpp", "idle station socket closed") if e["station_id"] == "IDLE-1"]


def test_an_oversized_frame_closes_with_1009_and_is_logged(platform: RunningPlatform, ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"], max_size=None) as ws:
        ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * (2 << 20)}]))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert [e for e in log_events(platform, "ocpp", "ocpp frame refused") if e["station_id"] == "FUZZ-2"]


def test_hostile_frames_leave_the_gateway_memory_bounded(platform: RunningPlatform, ocpp_url: str) -> None:
    junk = ["[" * 2000, '{"x": "' + "y" * (512 << 10) + '"}', json.dumps([2, "u", "NoSuchAction", {"x": "z" * 4096}]),
            json.dumps([3, "never-asked", {"a": [1] * 10000}]), "\x00" * 1000]
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"], max_size=None) as ws:
        ws.send(json.dumps([2, "warm", "Heartbeat", {}]))
        ws.recv(timeout=10)
        before = gateway_rss_kib(platform)
        for round_ in range(40):
            for frame in junk:
                ws.send(frame)
            ws.send(json.dumps([2, f"sync-{round_}", "Heartbeat", {}]))
            while json.loads(ws.recv(timeout=30))[1] != f"sync-{round_}":
                pass
        after = gateway_rss_kib(platform)
    assert after - before < 64 << 10, f"the gateway grew by {(after - before) >> 10} MiB on 20 MiB of junk"
