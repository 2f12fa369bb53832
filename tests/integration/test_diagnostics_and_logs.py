"""GetDiagnostics and GetLog through the public API: the station gets a location on the
platform's upload endpoint, really uploads its file over HTTP, reports each step, and the
file is listed and downloadable per station."""

from __future__ import annotations

import aiohttp
import pytest

from chargeplane.embedded import free_port
from support.public_api import PublicApi, emulated_station, operator_api, stored_reply
from support.tcp_proxy import proxy_network
from support.waiting import wait_for

from .conftest import running_platform


@pytest.fixture
async def api(platform, http) -> PublicApi:
    return await operator_api(platform, http)


async def statuses(api: PublicApi, station_id: str, notification: str) -> list[tuple[str, int | None]]:
    """The station's reported statuses of one notification, oldest first."""
    status, maintenance = await api.get(f"/stations/{station_id}/maintenance")
    assert status == 200, maintenance
    return [(h["status"], h["request_id"]) for h in reversed(maintenance["history"])
            if h["notification"] == notification]


async def test_diagnostics_are_uploaded_and_downloadable(platform, api: PublicApi) -> None:
    async with emulated_station(platform, "DIAG-1") as (_, frames):
        status, created = await api.post("/stations/DIAG-1/diagnostics-requests",
                                          {"startTime": "2026-01-01T00:00:00Z", "retries": 1, "retryInterval": 1})
        assert status == 201, created
        file_name = created["result"]["fileName"]
        assert file_name.startswith("diagnostics-DIAG-1-")
        (received,) = frames.calls_received("GetDiagnostics")
        assert received == {"startTime": "2026-01-01T00:00:00Z", "retries": 1, "retryInterval": 1,
                            "location": created["location"]}
        assert created["location"].startswith(platform.station_url + "/uploads/")
        assert await wait_for(lambda: stored_reply(platform.db, "DIAG-1", "GetDiagnostics")) == {"fileName": file_name}

        async def uploaded() -> list:
            found = await statuses(api, "DIAG-1", "DiagnosticsStatusNotification")
            return found if ("Uploaded", None) in found else []

        assert await wait_for(uploaded) == [("Uploading", None), ("Uploaded", None)]
    _, files = await api.get("/stations/DIAG-1/files")
    (listed,) = files["items"]
    assert (listed["file_name"], listed["action"], listed["upload_request_id"]) == (
        file_name, "GetDiagnostics", created["id"])
    status, content, headers = await api.download(f"/stations/DIAG-1/files/{listed['id']}")
    assert status == 200
    assert content.startswith(b"# diagnostics\nstation: DIAG-1\n")
    assert b"period: 2026-01-01T00:00:00Z .. now" in content
    assert len(content) == listed["size_bytes"]
    assert file_name in headers["Content-Disposition"]
    _, requests = await api.get("/stations/DIAG-1/upload-requests")
    (request,) = requests["items"]
    assert (request["reply"], request["file_ids"], request["error"]) == ({"fileName": file_name}, [listed["id"]], None)
    _, maintenance = await api.get("/stations/DIAG-1/maintenance")
    assert maintenance["latest"]["DiagnosticsStatusNotification"]["status"] == "Uploaded"


async def test_a_log_is_uploaded_under_its_request_id(platform, api: PublicApi) -> None:
    async with emulated_station(platform, "LOG-1") as (_, frames):
        status, created = await api.post("/stations/LOG-1/log-requests", {"logType": "SecurityLog"})
        assert status == 201, created
        assert created["result"]["status"] == "Accepted"
        (received,) = frames.calls_received("GetLog")
        assert received == {"logType": "SecurityLog", "requestId": created["id"],
                            "log": {"remoteLocation": created["location"]}}
        assert await wait_for(lambda: stored_reply(platform.db, "LOG-1", "GetLog")) == created["result"]

        async def uploaded() -> list:
            found = await statuses(api, "LOG-1", "LogStatusNotification")
            return found if ("Uploaded", created["id"]) in found else []

        assert await wait_for(uploaded) == [("Uploading", created["id"]), ("Uploaded", created["id"])]
    _, files = await api.get("/stations/LOG-1/files")
    (listed,) = files["items"]
    assert (listed["file_name"], listed["action"]) == (created["result"]["filename"], "GetLog")
    _, content, _ = await api.download(f"/stations/LOG-1/files/{listed['id']}")
    assert content.startswith(b"# security log of LOG-1")
    assert b"http basic auth: off" in content


async def test_a_failed_upload_is_reported(platform, api: PublicApi) -> None:
    """GetDiagnostics through the generic command path, to a location where nothing listens."""
    nowhere = f"http://127.0.0.1:{free_port()}/diagnostics"
    async with emulated_station(platform, "DIAG-2"):
        status, body = await api.command("DIAG-2", "GetDiagnostics", {"location": nowhere})
        assert status == 200 and body["result"]["fileName"]

        async def failed() -> list:
            found = await statuses(api, "DIAG-2", "DiagnosticsStatusNotification")
            return found if ("UploadFailed", None) in found else []

        assert await wait_for(failed) == [("Uploading", None), ("UploadFailed", None)]
    assert (await api.get("/stations/DIAG-2/files"))[1]["items"] == []


async def test_the_upload_endpoint_takes_a_put_and_refuses_strangers(platform, api: PublicApi, http) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('DIAG-3')")
    async with emulated_station(platform, "DIAG-3", register=False):
        status, created = await api.post("/stations/DIAG-3/diagnostics-requests", {})
        assert status == 201
    # a station that uploads with PUT {location}/{file name}
    async with http.put(created["location"] + "/extra.log", data=b"line 1\n",
                        headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 201
        stored = await response.json()
    async with http.post(platform.station_url + "/uploads/not-a-token", data=b"x") as response:
        assert response.status == 404
    await platform.db.execute("UPDATE station_upload_requests SET expires_at = now() - interval '1 second'")
    async with http.put(created["location"] + "/late.log", data=b"too late") as response:
        assert response.status == 404
    status, content, headers = await api.download(f"/stations/DIAG-3/files/{stored['id']}")
    assert (status, content, headers["Content-Type"].split(";")[0]) == (200, b"line 1\n", "text/plain")
    _, files = await api.get("/stations/DIAG-3/files")
    assert "late.log" not in [f["file_name"] for f in files["items"]]
    assert (await api.download("/stations/DIAG-3/files/999999"))[0] == 404
    assert (await api.post("/stations/DIAG-3/diagnostics-requests", {"location": "ftp://x"}))[0] == 422


async def test_an_offline_station_gets_no_request(platform, api: PublicApi) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('DIAG-4')")
    status, body = await api.post("/stations/DIAG-4/log-requests", {"logType": "DiagnosticsLog"})
    assert (status, body["error"]["code"]) == (409, "station_offline")
    _, requests = await api.get("/stations/DIAG-4/upload-requests")
    assert requests["items"][0]["error"] == {"status": "offline", "payload": {}}
    status, body = await api.post("/stations/NOBODY/log-requests", {"logType": "DiagnosticsLog"})
    assert status == 404


async def test_uploads_reach_the_platform_through_aiohttp_multipart(platform, api: PublicApi, http) -> None:
    """A station other than the emulator: a plain multipart POST names its file in the part."""
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('DIAG-5')")
    async with emulated_station(platform, "DIAG-5", register=False):
        _, created = await api.post("/stations/DIAG-5/diagnostics-requests", {})
    form = aiohttp.FormData()
    form.add_field("comment", "not a file")
    form.add_field("upload", b"\x00\x01binary", filename="dump.bin", content_type="application/octet-stream")
    async with http.post(created["location"], data=form) as response:
        assert response.status == 201
        stored = await response.json()
    status, content, _ = await api.download(f"/stations/DIAG-5/files/{stored['id']}")
    assert (status, content) == (200, b"\x00\x01binary")


async def test_a_station_outside_the_cluster_uploads_through_the_published_port(
    db, redis, database_url: str, redis_url: str, http: aiohttp.ClientSession,
) -> None:
    """On Kubernetes, stations outside the cluster reach the gateway's station port by a path of
    their own (kind publishes node port 30081 on the host's 8081; a load balancer elsewhere),
    which the chart's `platform.gateway.uploadBaseUrl` tells the gateway (its UPLOAD_BASE_URL).
    A TCP proxy stands in for that path: the location the station gets names it, and the
    station's upload goes through it and arrives."""
    with proxy_network(["published"]) as network:
        published = f"http://127.0.0.1:{network.proxies['published'].listen_port}"
        async with running_platform(db, database_url, redis_url,
                                    overrides={"ocpp": {"upload_base_url": published}}) as platform:
            network.set_target("published", platform.ports["ocpp_station"])
            api = await operator_api(platform, http)
            async with emulated_station(platform, "DIAG-OUT"):
                status, created = await api.post("/stations/DIAG-OUT/diagnostics-requests", {})
                assert status == 201, created
                assert created["location"].startswith(f"{published}/uploads/")

                async def uploaded() -> list:
                    found = await statuses(api, "DIAG-OUT", "DiagnosticsStatusNotification")
                    return found if ("Uploaded", None) in found else []

                await wait_for(uploaded)
            _, files = await api.get("/stations/DIAG-OUT/files")
            assert [f["file_name"] for f in files["items"]] == [created["result"]["fileName"]]
