"""Each namespace's platform gets a database of its own and a role that may use that database
only, so that the platforms of two namespaces (two tenants) can neither see nor change each
other's stations, sessions or bills, and may use the same station ids. The operator makes them
with the database owner's URL (its setting `database_url`), which never leaves the operator's
namespace: a platform gets only its own role's URL, in its namespace's Secret.

A namespace's database outlives its last ChargingStation and Tariff: bills are records. It is
removed by hand (`DROP DATABASE ...; DROP ROLE ...`, docs/operator.md)."""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg

from .log import Log

PREFIX = "chargeplane_"
# PostgreSQL cuts identifiers at 63 bytes; a namespace's name has up to 63 characters
IDENTIFIER_MAX = 63


def namespace_database(namespace: str) -> str:
    """The database (and role) of a namespace: `chargeplane_<namespace>`, `-` as `_`; a name too
    long keeps its start and a hash of the whole, so that two namespaces never share one."""
    name = PREFIX + namespace.replace("-", "_")
    if len(name) <= IDENTIFIER_MAX:
        return name
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:10]
    return f"{name[:IDENTIFIER_MAX - len(digest) - 1]}_{digest}"


def role_url(owner_url: str, role: str, password: str) -> str:
    """The owner's URL with the role, its password and its database in place of the owner's."""
    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{f'[{host}]' if ':' in host else host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, f"/{role}", parts.query, ""))


def password_in(url: str | None, role: str) -> str | None:
    """The password of `role` in a URL the operator made earlier (None if it is not such a URL)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.username == role and parts.path == f"/{role}" and parts.password:
        return unquote(parts.password)
    return None


async def ensure_namespace_database(owner_url: str, namespace: str, *, known_url: str | None,
                                    logger: Log) -> str:
    """Make (or keep) the namespace's role and database; the role's URL. `known_url` is the URL
    the namespace's Secret holds, whose password is kept (the platform's pods use it)."""
    role = namespace_database(namespace)
    password = password_in(known_url, role) or secrets.token_urlsafe(24)
    conn = await asyncpg.connect(owner_url)
    try:
        # utility statements take no parameters: format() quotes the name and the password
        exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role)
        statement = "ALTER ROLE %I WITH LOGIN PASSWORD %L" if exists else "CREATE ROLE %I WITH LOGIN PASSWORD %L"
        await conn.execute(await conn.fetchval("SELECT format($1::text, $2::text, $3::text)", statement, role,
                                               password))
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", role):
            await conn.execute(await conn.fetchval("SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $1::text)",
                                                   role))
            logger.info(f"database {role} made for namespace {namespace}")
        # every role may connect to every database unless told otherwise: not to this one
        await conn.execute(await conn.fetchval(
            "SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', $1::text)", role))
    finally:
        await conn.close()
    return role_url(owner_url, role, password)
