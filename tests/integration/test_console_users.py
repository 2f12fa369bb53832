"""People signed in to the console: the session cookie, the same scopes as tokens, CSRF, sign-out,
expiry and lockout, through the api-gateway as a browser would call it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from chargeplane.services.auth.users import save_user

from .conftest import Platform, running_platform

PASSWORD = "correct horse battery"


@asynccontextmanager
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies as a browser does (for 127.0.0.1 too)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def sign_in(platform: Platform, client: aiohttp.ClientSession, name: str,
                  password: str = PASSWORD) -> tuple[int, dict]:
    async with client.post(platform.url("api_gateway") + "/api/v1/auth/session",
                           json={"name": name, "password": password}) as response:
        return response.status, await response.json()


@pytest.fixture
async def users(platform: Platform) -> Platform:
    await save_user(platform.db, "reader", PASSWORD, "read")
    await save_user(platform.db, "operator", PASSWORD, "operate")
    return platform


async def test_a_signed_in_user_reads_with_the_cookie_alone(users: Platform) -> None:
    base = users.url("api_gateway") + "/api/v1"
    async with browser() as client:
        async with client.post(base + "/auth/session", json={"name": "reader", "password": PASSWORD}) as response:
            assert response.status == 201
            body = await response.json()
            cookie = response.headers["Set-Cookie"]
        assert (body["user"], body["role"], body["scopes"]) == ("reader", "read", ["read"])
        assert "session_id" not in body  # the id is in the HttpOnly cookie only
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api/" in cookie
        async with client.get(base + "/stations") as response:
            assert response.status == 200
        async with client.get(base + "/auth/session") as response:
            assert (await response.json())["csrf_token"] == body["csrf_token"]
    async with aiohttp.ClientSession() as stranger, stranger.get(base + "/stations") as response:
        assert response.status == 401
        assert "Sign in" in (await response.json())["error"]["message"]


async def test_a_read_user_is_refused_every_change(users: Platform) -> None:
    base = users.url("api_gateway") + "/api/v1"
    async with browser() as client:
        _, session = await sign_in(users, client, "reader")
        headers = {"X-CSRF-Token": session["csrf_token"]}
        async with client.put(base + "/id-tags/CARD-1", json={}, headers=headers) as response:
            assert response.status == 403
            assert "'read' role" in (await response.json())["error"]["message"]
        async with client.post(base + "/stations/CP-1/commands/Reset", json={"type": "Soft"},
                               headers=headers) as response:
            assert response.status == 403


async def test_a_change_needs_the_csrf_token_and_the_same_origin(users: Platform) -> None:
    base = users.url("api_gateway") + "/api/v1"
    async with browser() as client:
        _, session = await sign_in(users, client, "operator")
        async with client.put(base + "/id-tags/CARD-1", json={}) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "csrf_refused"
        async with client.put(base + "/id-tags/CARD-1", json={}, headers={"X-CSRF-Token": "guessed"}) as response:
            assert response.status == 403
        headers = {"X-CSRF-Token": session["csrf_token"]}
        async with client.put(base + "/id-tags/CARD-1", json={},
                              headers={**headers, "Origin": "https://evil.example"}) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "cross_origin"
        async with client.put(base + "/id-tags/CARD-1", json={"status": "Blocked"}, headers=headers) as response:
            assert response.status == 200
    assert await users.db.fetchval("SELECT status FROM id_tags WHERE id_tag = 'CARD-1'") == "Blocked"


async def test_sign_out_ends_the_session_on_the_server(users: Platform) -> None:
    base = users.url("api_gateway") + "/api/v1"
    async with browser() as client:
        _, session = await sign_in(users, client, "reader")
        stolen = next(c.value for c in client.cookie_jar if c.key == "chargeplane_session")
        async with client.delete(base + "/auth/session", headers={"X-CSRF-Token": session["csrf_token"]}) as response:
            assert response.status == 204
        async with client.get(base + "/stations") as response:
            assert response.status == 401
    # the cookie's value, kept by someone, signs nobody in any more
    async with aiohttp.ClientSession() as thief:
        async with thief.get(base + "/stations", headers={"Cookie": f"chargeplane_session={stolen}"}) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "session_ended"
    assert await users.db.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_wrong_passwords_lock_the_user_and_a_reset_unlocks_it(users: Platform) -> None:
    async with browser() as client:
        status, body = await sign_in(users, client, "nobody", "whatever-whatever")
        assert (status, body["error"]["code"]) == (401, "invalid_credentials")
        for attempt in range(1, 6):
            status, body = await sign_in(users, client, "operator", "wrong-wrong-wrong")
            assert status == 401
            assert ("locked until" in body["error"]["message"]) == (attempt == 5)
        status, body = await sign_in(users, client, "operator")  # the right password, too late
        assert (status, body["error"]["code"]) == (429, "user_locked")
        await save_user(users.db, "operator", PASSWORD, "operate")
        status, _ = await sign_in(users, client, "operator")
        assert status == 201


async def test_two_sign_ins_for_one_user_at_once_do_not_both_guess(users: Platform) -> None:
    async with browser() as first, browser() as second:
        outcomes = await asyncio.gather(*(sign_in(users, client, "reader", "wrong-wrong-wrong")
                                          for client in (first, second, first, second)))
    statuses = sorted(status for status, _ in outcomes)
    assert set(statuses) <= {401, 429}
    failures = await users.db.fetchval("SELECT failed_sign_ins FROM console_users WHERE name = 'reader'")
    assert failures == statuses.count(401)


async def test_a_session_unused_for_its_idle_time_ends(db, redis, database_url: str, redis_url: str) -> None:
    overrides = {"auth": {"console_session_idle_s": 1.0}}
    async with running_platform(db, database_url, redis_url, overrides=overrides) as platform:
        await save_user(platform.db, "reader", PASSWORD, "read")
        base = platform.url("api_gateway") + "/api/v1"
        async with browser() as client:
            await sign_in(platform, client, "reader")
            async with client.get(base + "/stations") as response:
                assert response.status == 200
            await asyncio.sleep(1.5)
            async with client.get(base + "/stations") as response:
                assert response.status == 401
                assert "sign in again" in (await response.json())["error"]["message"]
