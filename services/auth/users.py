"""The console's users (people, not API clients) and their signed-in sessions, in PostgreSQL.

A session's id is a random token the browser keeps in a cookie; the table keeps its SHA-256
only. A user is locked for a while after too many wrong passwords in a row (`LockoutPolicy`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
from aiohttp import web

from chargeplane.common.db import Connection

from .passwords import hash_password, verify_password

Role = Literal["read", "operate"]
USER_NAME_PATTERN = r"[A-Za-z0-9._@-]{1,64}"
USER_NAME_RULE = "a user name is 1 to 64 of A-Z a-z 0-9 . _ @ -"
# OWASP ASVS 2.1.1: at least 12 characters; at most what a person types or a manager pastes
PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 12, 128
# What a sign-in for a name nobody has verifies against, so it takes as long as a wrong password.
_UNKNOWN_USER_HASH = hash_password(secrets.token_urlsafe(16))


def is_valid_user_name(name: str) -> bool:
    return re.fullmatch(USER_NAME_PATTERN, name) is not None


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        return f"a password has {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
    return None


def session_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int  # wrong passwords in a row that lock the user
    lock_s: float  # for this long


@dataclass(frozen=True)
class SessionPolicy:
    idle_s: float  # a session unused this long has ended
    max_s: float  # and every session ends this long after sign-in


@dataclass(frozen=True)
class ConsoleSession:
    session_id: str  # only ever known right after sign-in; never stored
    user: str
    role: Role
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignInRefused:
    reason: Literal["unknown_user", "wrong_password", "locked", "busy"]
    locked_until: datetime | None = None
    locked_now: bool = False  # this wrong password locked the user


class UserRepository:
    def __init__(self, pool: asyncpg.Pool, lockout: LockoutPolicy, sessions: SessionPolicy) -> None:
        self._pool = pool
        self._lockout = lockout
        self._sessions = sessions

    async def sign_in(self, name: str, password: str) -> ConsoleSession | SignInRefused:
        """A new session for the user when the password is right and the user is not locked.

        The user's row stays locked (NOWAIT) while the password is checked: a second sign-in
        for the same user meanwhile is refused at once, so guesses cannot run side by side
        past the lockout."""
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                row = await conn.fetchrow(
                    "SELECT password_hash, role, failed_sign_ins, locked_until, now() AS now FROM console_users"
                    " WHERE name = $1 FOR UPDATE NOWAIT", name)
            except asyncpg.LockNotAvailableError:
                return SignInRefused("busy")
            if row is None:
                await asyncio.to_thread(verify_password, _UNKNOWN_USER_HASH, password)
                return SignInRefused("unknown_user")
            if row["locked_until"] is not None and row["locked_until"] > row["now"]:
                return SignInRefused("locked", row["locked_until"])
            if not await asyncio.to_thread(verify_password, row["password_hash"], password):
                return await self._count_failure(conn, name, row["failed_sign_ins"] + 1)
            await conn.execute(
                "UPDATE console_users SET failed_sign_ins = 0, locked_until = NULL WHERE name = $1", name)
            await conn.execute("DELETE FROM console_sessions WHERE user_name = $1 AND expires_at <= now()", name)
            session_id, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires_at = await conn.fetchval(
                "INSERT INTO console_sessions (id_hash, user_name, csrf_token, expires_at)"
                " VALUES ($1, $2, $3, now() + make_interval(secs => least($4::float8, $5::float8)))"
                " RETURNING expires_at",
                session_hash(session_id), name, csrf_token, self._sessions.idle_s, self._sessions.max_s)
        return ConsoleSession(session_id, name, row["role"], csrf_token, expires_at)

    async def _count_failure(self, conn: Connection, name: str, failures: int) -> SignInRefused:
        if failures < self._lockout.max_failures:
            await conn.execute("UPDATE console_users SET failed_sign_ins = $2 WHERE name = $1", name, failures)
            return SignInRefused("wrong_password")
        locked_until = await conn.fetchval(
            "UPDATE console_users SET failed_sign_ins = 0, locked_until = now() + make_interval(secs => $2::float8)"
            " WHERE name = $1 RETURNING locked_until", name, self._lockout.lock_s)
        return SignInRefused("wrong_password", locked_until, locked_now=True)

    async def session(self, session_id: str, *, used: bool) -> ConsoleSession | None:
        """The live session with this id (None: unknown, signed out or expired); `used`: a
        request of the person's, which pushes the idle expiry back (within the session's limit)."""
        if used:
            row = await self._pool.fetchrow(
                "UPDATE console_sessions s SET last_used_at = now(), expires_at = least("
                " s.created_at + make_interval(secs => $3::float8), now() + make_interval(secs => $2::float8))"
                " FROM console_users u WHERE s.id_hash = $1 AND s.expires_at > now() AND u.name = s.user_name"
                " RETURNING s.user_name, u.role, s.csrf_token, s.expires_at",
                session_hash(session_id), self._sessions.idle_s, self._sessions.max_s)
        else:
            row = await self._pool.fetchrow(
                "SELECT s.user_name, u.role, s.csrf_token, s.expires_at FROM console_sessions s"
                " JOIN console_users u ON u.name = s.user_name WHERE s.id_hash = $1 AND s.expires_at > now()",
                session_hash(session_id))
        if row is None:
            return None
        return ConsoleSession(session_id, row["user_name"], row["role"], row["csrf_token"], row["expires_at"])

    async def sign_out(self, session_id: str) -> str | None:
        """End the session; the user it was (None: there was none)."""
        user: str | None = await self._pool.fetchval(
            "DELETE FROM console_sessions WHERE id_hash = $1 RETURNING user_name", session_hash(session_id))
        return user


USERS = web.AppKey("console_users", UserRepository)


# ----- administration (`chargeplane user ...`), on a connection of the caller's ------------------

async def save_user(conn: asyncpg.Pool | asyncpg.Connection, name: str, password: str, role: Role) -> bool:
    """Create the user, or give an existing one this password and role, unlock it and end its
    sessions (a reset). True when the user is new."""
    password_hash = await asyncio.to_thread(hash_password, password)
    created: bool = await conn.fetchval(
        "WITH ended AS (DELETE FROM console_sessions WHERE user_name = $1)"
        " INSERT INTO console_users (name, password_hash, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO UPDATE SET password_hash = $2, role = $3, failed_sign_ins = 0,"
        " locked_until = NULL, updated_at = now() RETURNING (xmax = 0)", name, password_hash, role)
    return created


async def delete_user(conn: asyncpg.Pool | asyncpg.Connection, name: str) -> bool:
    """Delete the user and end its sessions; False when there was none."""
    return await conn.execute("DELETE FROM console_users WHERE name = $1", name) == "DELETE 1"


async def list_users(conn: asyncpg.Pool | asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT u.name, u.role, CASE WHEN u.locked_until > now() THEN u.locked_until END AS locked_until,"
        " (SELECT count(*) FROM console_sessions s WHERE s.user_name = u.name AND s.expires_at > now()) AS sessions"
        " FROM console_users u ORDER BY u.name")
