"""The `chargeplane` command: up, demo, migrate, station, client, user."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg

from chargeplane.common.db import create_pool, migrate
from chargeplane.common.logs import configure_logging, get_logger
from chargeplane.common.station_ids import STATION_ID_RULE, is_valid_station_id
from chargeplane.common.tokens import SCOPES

from .jaeger import JAEGER_BINARY_ENV, JaegerPorts, find_jaeger, start_jaeger
from .pki import ensure_platform_pki
from .supervisor import (
    GATEWAY_PORT,
    SERVICES,
    TLS_PORT,
    SupervisedProcess,
    service_urls,
    start_services,
    stop_on_signals,
)

log = get_logger(__name__)
T = TypeVar("T")
DEFAULT_DATA_DIR = Path(".data")


def _database_url(args: argparse.Namespace) -> str:
    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set (or pass --database-url); `chargeplane up` writes it to "
                 f"{DEFAULT_DATA_DIR}/platform.env")
    return url


async def _migrate(database_url: str) -> list[str]:
    from chargeplane.services.billing.repository import BillingRepository

    applied = await migrate(database_url)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        await BillingRepository(pool).seed_default_tariff()
    finally:
        await pool.close()
    return applied


def cmd_migrate(args: argparse.Namespace) -> int:
    applied = asyncio.run(_migrate(_database_url(args)))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


async def _add_station(database_url: str, station_ids: list[str], interval: int, tariff: str | None,
                       password: str | None, security_profile: int) -> None:
    from chargeplane.services.auth.repository import set_station_password
    from chargeplane.services.billing.repository import assign_tariff

    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO charging_stations (id, heartbeat_interval, security_profile) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET heartbeat_interval = $2, security_profile = $3, updated_at = now()",
                [(station_id, interval, security_profile) for station_id in station_ids],
            )
            for station_id in station_ids:
                if tariff:
                    await assign_tariff(conn, station_id, tariff)
                if password:
                    await set_station_password(conn, station_id, password)
    finally:
        await conn.close()


def cmd_station_add(args: argparse.Namespace) -> int:
    ids = list(args.station_ids)
    if args.count:
        ids += [f"{args.prefix}{i:04d}" for i in range(1, args.count + 1)]
    if not ids:
        sys.exit("name at least one station id, or --count N")
    # registered, such a station could never connect
    refused = [station_id for station_id in ids if not is_valid_station_id(station_id)]
    if refused:
        sys.exit(f"{STATION_ID_RULE}: not {', '.join(map(repr, refused))}")
    asyncio.run(_add_station(_database_url(args), ids, args.heartbeat_interval, args.tariff, args.password,
                             args.security_profile))
    print(f"registered {len(ids)} station(s): {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}")
    return 0


async def _list_stations(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT id, vendor, model, connected, last_heartbeat_at FROM charging_stations ORDER BY id"
        )
    finally:
        await conn.close()


def cmd_station_list(args: argparse.Namespace) -> int:
    rows = asyncio.run(_list_stations(_database_url(args)))
    print(f"{'STATION':<20} {'VENDOR':<16} {'MODEL':<16} {'ONLINE':<7} LAST HEARTBEAT")
    for r in rows:
        print(f"{r['id']:<20} {r['vendor'] or '-':<16} {r['model'] or '-':<16} {'yes' if r['connected'] else 'no':<7}"
              f" {r['last_heartbeat_at'] or '-'}")
    return 0


async def _add_client(database_url: str, client_id: str, secret: str, scopes: list[str]) -> None:
    from chargeplane.services.auth.repository import save_client

    conn = await asyncpg.connect(database_url)
    try:
        await save_client(conn, client_id, secret, scopes)
    finally:
        await conn.close()


def cmd_client_add(args: argparse.Namespace) -> int:
    secret = args.secret or secrets.token_urlsafe(24)
    scopes = [s for s in args.scopes.split(",") if s]
    if not set(scopes) <= set(SCOPES) or not scopes:
        sys.exit(f"scopes are a comma-separated list of: {', '.join(SCOPES)}")
    asyncio.run(_add_client(_database_url(args), args.client_id, secret, scopes))
    print(f"client_id={args.client_id}\nclient_secret={secret}\nscopes={' '.join(scopes)}")
    return 0


async def _on_database(database_url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    conn = await asyncpg.connect(database_url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def _new_password(args: argparse.Namespace) -> str:
    """--password, else asked twice at a terminal, else one line of standard input."""
    from chargeplane.services.auth.users import password_problem

    password: str
    if args.password is not None:
        password = args.password
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            sys.exit("the two passwords differ; nothing changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if problem := password_problem(password):
        sys.exit(f"{problem}; nothing changed")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    from chargeplane.services.auth.users import USER_NAME_RULE, is_valid_user_name, save_user

    if not is_valid_user_name(args.name):
        sys.exit(f"{USER_NAME_RULE}: not {args.name!r}")
    password = _new_password(args)
    created = asyncio.run(_on_database(_database_url(args), lambda conn: save_user(conn, args.name, password,
                                                                                   args.role)))
    what = "created" if created else "reset (new password and role, unlocked, signed out everywhere)"
    print(f"user {args.name} {what}; role {args.role}: "
          + ("sees everything, changes nothing" if args.role == "read" else "may also act on stations and id tags"))
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from chargeplane.services.auth.users import list_users

    rows = asyncio.run(_on_database(_database_url(args), list_users))
    print(f"{'USER':<24} {'ROLE':<8} {'SESSIONS':<9} LOCKED UNTIL")
    for r in rows:
        print(f"{r['name']:<24} {r['role']:<8} {r['sessions']:<9} {r['locked_until'] or '-'}")
    return 0


def cmd_user_delete(args: argparse.Namespace) -> int:
    from chargeplane.services.auth.users import delete_user

    if not asyncio.run(_on_database(_database_url(args), lambda conn: delete_user(conn, args.name))):
        sys.exit(f"there is no user {args.name!r}")
    print(f"user {args.name} deleted and signed out")
    return 0


def _jwt_secret(data_dir: Path) -> str:
    """The key auth signs API tokens with and api-gateway checks them with: $JWT_SECRET, or
    one made at random on the first `up` and kept in the data folder (never a known default)."""
    if secret := os.environ.get("JWT_SECRET"):
        return secret
    path = data_dir / "jwt-secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True)
class RunningJaeger:
    process: SupervisedProcess
    ports: JaegerPorts


def _start_jaeger(args: argparse.Namespace, data_dir: Path) -> RunningJaeger | None:
    """Jaeger beside the platform: with --jaeger=on, or =auto (the default) when a binary is found
    and no OTEL_EXPORTER_OTLP_ENDPOINT sends the traces elsewhere."""
    if args.jaeger == "off" or (args.jaeger == "auto" and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None
    binary = find_jaeger()
    if binary is None:
        if args.jaeger == "on":
            sys.exit(f"no jaeger binary: `make tools` builds one, or set ${JAEGER_BINARY_ENV} to a Jaeger v2 binary")
        return None
    ports = JaegerPorts.moved_by(args.port_offset, args.host)
    process = start_jaeger(binary, ports, data_dir)
    log.info("jaeger started", ui=ports.ui_url, otlp=ports.otlp_endpoint, binary=str(binary))
    return RunningJaeger(process, ports)


def cmd_up(args: argparse.Namespace) -> int:
    from .embedded import EmbeddedPostgres, EmbeddedRedis

    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = redis = None
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    processes = []
    stop = stop_on_signals()
    try:
        if not database_url:
            postgres = EmbeddedPostgres(data_dir / "postgres", args.postgres_port)
            database_url = postgres.start()
            log.info("embedded postgresql started", url=database_url, data=str(postgres.data_dir))
        if not redis_url:
            redis = EmbeddedRedis(data_dir / "redis", args.redis_port)
            redis_url = redis.start()
            log.info("embedded redis started", url=redis_url)
        applied = asyncio.run(_migrate(database_url))
        log.info("database migrated", applied=applied)
        ports = {name: port + args.port_offset for name, port in SERVICES.items()}
        pki = ensure_platform_pki(data_dir / "pki")
        gateway_port, tls_port = GATEWAY_PORT + args.port_offset, TLS_PORT + args.port_offset
        jaeger = _start_jaeger(args, data_dir)
        # started first, it is stopped last: the services flush their spans to it as they stop
        processes = [jaeger.process] if jaeger else []
        # the services send Jaeger their spans, and the console links a session to its trace there
        tracing_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.ports.otlp_endpoint,
                       "API_GATEWAY__TRACE_URL_TEMPLATE": f"{jaeger.ports.ui_url}/trace/{{trace_id}}"} if jaeger else {}
        processes += start_services(ports, database_url, redis_url, data_dir,
                                    extra_env={"JWT_SECRET": _jwt_secret(data_dir), **tracing_env},
                                    gateway_env={**pki.gateway_environment(tls_port), "PORT": str(gateway_port),
                                                 "INTERNAL_PORT": str(ports["ocpp"])}, host=args.host)
        urls = service_urls(ports, args.host)
        ocpp_url = f"ws://{args.host}:{gateway_port}/ocpp"
        ocpp_tls_url = f"wss://{args.host}:{tls_port}/ocpp"
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "OCPP_URL": ocpp_url,
               "OCPP_TLS_URL": ocpp_tls_url, "PLATFORM_CA_FILE": str(pki.ca_certificate),
               **{f"{name.upper()}_URL": url for name, url in urls.items() if name != "ocpp"},
               "OCPP_HTTP_URL": urls["ocpp"], "API_URL": f"{urls['api_gateway']}/api/v1",
               **({"JAEGER_UI_URL": jaeger.ports.ui_url} if jaeger else {}),
               "CONSOLE_URL": f"{urls['api_gateway']}/"}
        (data_dir / "platform.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        print("\nChargePlane is up.\n")
        print(f"  OCPP 1.6J gateway   {ocpp_url}/{{station_id}}")
        print(f"  OCPP over TLS       {ocpp_tls_url}/{{station_id}} (CA: {pki.ca_certificate})")
        print(f"  console             {urls['api_gateway']}/ (in a browser; sign in as a user, see below)")
        print(f"  public API          {urls['api_gateway']}/api/v1 (OpenAPI: /api/v1/openapi.json)")
        print(f"  gateway internal API {urls['ocpp']}/internal (never publish it)")
        for name in ("sessions", "billing", "telemetry", "auth"):
            print(f"  {name:<19} {urls[name]}")
        if jaeger:
            print(f"  traces (Jaeger)     {jaeger.ports.ui_url} (OTLP: {jaeger.ports.otlp_endpoint})")
        print(f"  PostgreSQL          {database_url}")
        print(f"  Redis               {redis_url}")
        print(f"  logs                {data_dir / 'logs'}")
        print(f"  environment         {data_dir / 'platform.env'}\n")
        print("Register a station with `chargeplane station add ID`. Create a console user with")
        print(f"  . {data_dir / 'platform.env'} && export DATABASE_URL && chargeplane user add NAME --role operate")
        print("(`--role read` sees everything and changes nothing). Ctrl-C stops everything.", flush=True)
        while not stop.is_set():
            for process in processes:
                process.poll()
            time.sleep(0.2)
        return 0
    finally:
        for process in reversed(processes):
            process.stop()
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        (data_dir / "platform.env").unlink(missing_ok=True)
        log.info("chargeplane stopped")


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargeplane", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole platform on this machine")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data, logs and platform.env go")
    up.add_argument("--postgres-port", type=int, default=55432)
    up.add_argument("--redis-port", type=int, default=56379)
    up.add_argument("--port-offset", type=int, default=0, help="added to every service port (8080-8086, 8443)")
    # e.g. another loopback address, so that a second platform keeps the default ports (the
    # operator's tests point CHARGEPLANE_SERVICE_URL_TEMPLATE at one). The services' internal
    # APIs have no authentication: keep this on loopback or a private network.
    up.add_argument("--host", default="127.0.0.1", help="the address every service listens on (default: %(default)s)")
    up.add_argument("--jaeger", choices=("auto", "on", "off"), default="auto",
                    help="run Jaeger beside the platform and send it the traces: auto (the default) when a jaeger "
                         "binary is found (make tools, $CHARGEPLANE_JAEGER, the PATH) and OTEL_EXPORTER_OTLP_ENDPOINT "
                         "is not set")
    up.set_defaults(func=cmd_up)

    demo = sub.add_parser("demo", help="run the platform and a fleet of emulated stations, then summarise")
    demo.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR / "demo")
    demo.add_argument("--stations", type=int, default=10)
    demo.add_argument("--sessions", type=int, default=2, help="sessions per station")
    demo.add_argument("--duration", type=int, default=60, help="about how long the fleet runs, in seconds")
    demo.add_argument("--keep-running", action="store_true",
                      help="after the summary, leave the platform and the stations running (charging session after "
                           "session) for the console, until Ctrl-C")
    demo.add_argument("--user", default="demo", help="with --keep-running: the console user (role operate) to create")
    demo.set_defaults(func=cmd_demo)

    mig = sub.add_parser("migrate", help="apply the database migrations and seed the default tariff")
    mig.add_argument("--database-url")
    mig.set_defaults(func=cmd_migrate)

    station = sub.add_parser("station", help="manage registered stations")
    station_sub = station.add_subparsers(dest="station_command", required=True)
    add = station_sub.add_parser("add", help="register stations so they may connect")
    add.add_argument("station_ids", nargs="*")
    add.add_argument("--count", type=int, default=0, help="also register PREFIX0001..PREFIXnnnn")
    add.add_argument("--prefix", default="EMU-")
    add.add_argument("--heartbeat-interval", type=int, default=300)
    add.add_argument("--tariff", help="the tariff id the station bills with (default: the default tariff)")
    add.add_argument("--password", help="require this HTTP Basic password (OCPP security profile 1)")
    add.add_argument("--security-profile", type=int, choices=(1, 2, 3), default=1,
                     help="1: Basic on either port; 2: TLS + Basic; 3: TLS with a client certificate")
    add.add_argument("--database-url")
    add.set_defaults(func=cmd_station_add)
    lst = station_sub.add_parser("list", help="list registered stations")
    lst.add_argument("--database-url")
    lst.set_defaults(func=cmd_station_list)

    client = sub.add_parser("client", help="manage API clients (OAuth2 client credentials)")
    client_sub = client.add_subparsers(dest="client_command", required=True)
    cadd = client_sub.add_parser("add", help="create or reset an API client; prints its secret")
    cadd.add_argument("client_id")
    cadd.add_argument("--scopes", default="read,operate", help="comma-separated: read, operate")
    cadd.add_argument("--secret", help="the secret to set (default: a random one)")
    cadd.add_argument("--database-url")
    cadd.set_defaults(func=cmd_client_add)

    user = sub.add_parser("user", help="manage the people who sign in to the console")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    uadd = user_sub.add_parser("add", help="create a user, or reset one (password, role, lockout, sessions)")
    uadd.add_argument("name")
    uadd.add_argument("--role", choices=("read", "operate"), required=True,
                      help="read: sees everything, changes nothing; operate: also acts on stations and id tags")
    uadd.add_argument("--password", help="the password (default: asked at the terminal, or read from stdin)")
    uadd.add_argument("--database-url")
    uadd.set_defaults(func=cmd_user_add)
    ulist = user_sub.add_parser("list", help="list users, their sessions and lockouts")
    ulist.add_argument("--database-url")
    ulist.set_defaults(func=cmd_user_list)
    udel = user_sub.add_parser("delete", help="delete a user and end its sessions")
    udel.add_argument("name")
    udel.add_argument("--database-url")
    udel.set_defaults(func=cmd_user_delete)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("chargeplane", os.environ.get("LOG_LEVEL", "INFO"))
    result: int = args.func(args)
    return result
