"""No secret in plain sight: every pod the chart renders reads the database URL, the
database password, an external Redis's URL and the JWT key from a Secret, the chart's own or one
the values name (existingSecret). (The pods the operator makes do the same:
tests/unit/test_operator_builders.py.) With existingSecret the chart renders no credential and
the same manifest every time, as Argo CD and Flux need; the URL the chart builds reaches a real
PostgreSQL with the password it was built from, however odd."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from support.crds import Manifest

from .conftest import NAMESPACE, Render, the_one
from .test_chart_render import CHART, VALUES, VALUES_IDS

SECRET_ENV = {"DATABASE_URL", "CHARGEPLANE_DATABASE_URL", "POSTGRES_PASSWORD", "JWT_SECRET", "CHARGEPLANE_REDIS_URL"}
GITOPS = CHART / "ci" / "gitops-values.yaml"
EXISTING = ("postgresql.auth.existingSecret=db-credentials", "postgresql.auth.existingSecretPasswordKey=pw")
# Kubernetes' dependent environment variables: $(NAME) is replaced by an earlier variable's value
DEPENDENT = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for manifest in manifests:
        if manifest["kind"] == "Pod":
            yield manifest["metadata"]["name"], manifest["spec"]
        elif manifest["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


def containers(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs(manifests):
        for container in (*spec.get("initContainers", []), *spec["containers"]):
            yield f"{name}/{container['name']}", container


def existing_secrets(values: dict[str, Any]) -> set[str]:
    """The Secrets the values name rather than the chart making them."""
    named = (values.get("postgresql", {}).get("auth", {}), values.get("externalDatabase", {}),
             values.get("externalRedis", {}))
    return {section["existingSecret"] for section in named if section.get("existingSecret")}


def rendered_secrets(manifests: list[Manifest]) -> dict[str, set[str]]:
    return {m["metadata"]["name"]: set(m.get("stringData", {})) | set(m.get("data", {}))
            for m in manifests if m["kind"] == "Secret"}


@pytest.mark.parametrize("values", VALUES, ids=VALUES_IDS)
def test_secrets_reach_pods_only_through_secret_key_refs(render: Render, values: Path | None) -> None:
    manifests = render(*([values] if values else []))
    secrets = rendered_secrets(manifests)
    existing = existing_secrets(yaml.safe_load(values.read_text()) if values else {})
    seen = set()
    for name, container in containers(manifests):
        for variable in container.get("env", []):
            if variable["name"] not in SECRET_ENV:
                continue
            seen.add(variable["name"])
            if "value" in variable:  # only a URL composed of a Secret's value, or one holding no credential
                assert not re.search(r"//[^/@]*:[^/@$]*@", variable["value"]), f"{name}: {variable['name']}"
                continue
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["key"] in secrets.get(reference["name"], set()) or reference["name"] in existing, (
                name, reference)
    assert {"DATABASE_URL", "CHARGEPLANE_DATABASE_URL"} <= seen


def test_with_existing_secrets_the_chart_renders_no_credential_and_the_same_manifest_every_time(
    helm: Path, chart_dir: Path,
) -> None:
    def rendered(*args: str) -> str:
        done = subprocess.run([str(helm), "template", "cp", str(chart_dir), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # the defaults generate a password at every render that cannot `lookup` the last one: what a
    # GitOps tool would see
    assert rendered() != rendered()
    gitops = rendered("--values", str(GITOPS))
    assert gitops == rendered("--values", str(GITOPS))
    assert "kind: Secret" not in gitops


def expanded(env: list[dict[str, Any]], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """The environment a container gets, as the kubelet makes it (there is no kubelet here): each
    secretKeyRef read from `secrets`, each $(NAME) replaced by an earlier variable's value."""
    values: dict[str, str] = {}
    for variable in env:
        if "value" in variable:
            values[variable["name"]] = DEPENDENT.sub(lambda m: values.get(m[1], m[0]), variable["value"])
        elif "fieldRef" in variable["valueFrom"]:  # the pod's own name (POD_ID)
            values[variable["name"]] = variable["valueFrom"]["fieldRef"]["fieldPath"]
        else:
            reference = variable["valueFrom"]["secretKeyRef"]
            values[variable["name"]] = secrets[(reference["name"], reference["key"])]
    return values


def test_an_existing_secret_gives_postgresql_and_every_client_the_same_password(render: Render) -> None:
    manifests = render(sets=EXISTING)
    assert "Secret" not in {m["kind"] for m in manifests}
    secrets = {("db-credentials", "pw"): "s3cr3t-from-vault"}
    server = the_one(manifests, "StatefulSet", "chargeplane-postgresql")["spec"]["template"]["spec"]["containers"][0]
    assert expanded(server["env"], secrets)["POSTGRES_PASSWORD"] == "s3cr3t-from-vault"
    host = f"chargeplane-postgresql.{NAMESPACE}.svc:5432"
    for name, container in containers(manifests):
        env = expanded(container.get("env", []), secrets)
        url = env.get("DATABASE_URL") or env.get("CHARGEPLANE_DATABASE_URL")
        if url is not None:
            assert url == f"postgresql://chargeplane:s3cr3t-from-vault@{host}/chargeplane", name


@pytest.mark.parametrize(("sets", "complaint"), [
    (("postgresql.auth.password=x", "postgresql.auth.existingSecret=y"),
     "postgresql.auth: set password or existingSecret, not both"),
    (("postgresql.enabled=false", "externalDatabase.url=postgresql://a@b/c", "externalDatabase.existingSecret=y"),
     "externalDatabase: set url or existingSecret, not both"),
    (("redis.enabled=false", "externalRedis.url=redis://a", "externalRedis.existingSecret=y"),
     "externalRedis: set url or existingSecret, not both"),
    (("postgresql.auth.existingSecret=Not_A_Name",), "does not match pattern"),
    (("postgresql.auth.username=user@host",), "does not match pattern"),
])
def test_ambiguous_or_malformed_credentials_are_refused(helm: Path, chart_dir: Path, sets: tuple[str, ...],
                                                       complaint: str) -> None:
    args = [arg for pair in sets for arg in ("--set", pair)]
    done = subprocess.run([str(helm), "template", "x", str(chart_dir), *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert complaint in done.stderr


def test_an_external_database_url_from_an_existing_secret(render: Render) -> None:
    manifests = render(sets=("postgresql.enabled=false", "externalDatabase.existingSecret=db-url",
                             "externalDatabase.existingSecretUrlKey=dsn"))
    assert "Secret" not in {m["kind"] for m in manifests}
    operator = the_one(manifests, "Deployment", "chargeplane-operator")["spec"]["template"]["spec"]
    for container in (*operator["initContainers"], *operator["containers"]):
        (url,) = [v for v in container["env"] if v["name"] in ("DATABASE_URL", "CHARGEPLANE_DATABASE_URL")]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "db-url", "key": "dsn"}


ODD_PASSWORD = "p@ss w+rd/é:%?#&'\"$(x)"


@asynccontextmanager
async def password_checked_for(admin: asyncpg.Connection, role: str) -> AsyncIterator[None]:
    """The test PostgreSQL trusts every local login; for `role` (only) it checks the password
    while this lasts: a scram-sha-256 line ahead of the others in pg_hba.conf, reloaded."""
    hba = await admin.fetchval("SHOW hba_file")
    original = await admin.fetchval("SELECT pg_read_file($1)", hba)
    lines = [f"host all {role} 127.0.0.1/32 scram-sha-256", *original.splitlines()]
    await admin.execute(f"COPY (SELECT unnest({array(lines)})) TO {quote_literal(hba)}")
    await admin.execute("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        await admin.execute(f"COPY (SELECT unnest({array(original.splitlines())})) TO {quote_literal(hba)}")
        await admin.execute("SELECT pg_reload_conf()")


async def refused_within(url: str, seconds: float) -> None:
    """A wrong password is refused, once the server has reloaded pg_hba.conf (it does so on a signal)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = await asyncpg.connect(url)
        except asyncpg.InvalidPasswordError:
            return
        await connection.close()
        assert time.monotonic() < deadline, "a wrong password still logs in"
        await asyncio.sleep(0.1)


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def array(items: list[str]) -> str:
    return "ARRAY[" + ", ".join(quote_literal(item) for item in items) + "]"


async def test_the_url_the_chart_builds_logs_in_to_a_real_postgresql_with_its_password(
    render: Render, database_url: str,
) -> None:
    """The chart URL-escapes a password it knows (given, or generated) into the URL it hands the
    platform; asyncpg, the platform's driver, logs in with it where the server checks it."""
    sets = ("postgresql.auth.username=chart_url_check", f"postgresql.auth.password={ODD_PASSWORD}")
    secret = the_one(render(sets=sets), "Secret", "chargeplane-database")
    assert secret["stringData"]["password"] == ODD_PASSWORD
    chart_url, server = urllib.parse.urlsplit(secret["stringData"]["url"]), urllib.parse.urlsplit(database_url)
    userinfo = chart_url.netloc.rsplit("@", 1)[0]
    url = f"postgresql://{userinfo}@{server.hostname}:{server.port}{server.path}"  # the test server's address
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute("DROP ROLE IF EXISTS chart_url_check")
        await admin.execute(f"CREATE ROLE chart_url_check LOGIN PASSWORD {quote_literal(ODD_PASSWORD)}")
        async with password_checked_for(admin, "chart_url_check"):
            await refused_within(url.replace(userinfo, "chart_url_check:wrong"), 10.0)  # the check is real
            connection = await asyncpg.connect(url)
            try:
                assert await connection.fetchval("SELECT current_user") == "chart_url_check"
            finally:
                await connection.close()
    finally:
        await admin.execute("DROP ROLE IF EXISTS chart_url_check")
        await admin.close()
