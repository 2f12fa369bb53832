"""values.yaml and values.schema.json in step: every key declared, documented and typed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml


@pytest.fixture(scope="module")
def values(chart_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((chart_dir / "values.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def schema(chart_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((chart_dir / "values.schema.json").read_text())
    return loaded


def declared_paths(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every key path the schema declares; an object without `properties` is free-form below."""
    paths = {}
    for key, sub in schema.get("properties", {}).items():
        paths[prefix + key] = sub
        paths |= declared_paths(sub, f"{prefix}{key}.")
    return paths


def value_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        paths.add(prefix + key)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and "properties" in sub:
            paths |= value_paths(value, sub, f"{prefix}{key}.")
    return paths


def test_the_schema_declares_exactly_the_keys_of_values_yaml(values: dict[str, Any], schema: dict[str, Any]) -> None:
    assert value_paths(values, schema) == set(declared_paths(schema))


def test_the_schema_is_strict_and_describes_every_key(schema: dict[str, Any]) -> None:
    for path, sub in {"": schema, **declared_paths(schema)}.items():
        if "properties" in sub:
            assert sub.get("additionalProperties") is False, path
        if path:
            assert sub.get("description"), path
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_key_in_values_yaml_is_commented_starting_with_its_name(chart_dir: Path,
                                                                      schema: dict[str, Any]) -> None:
    declared = declared_paths(schema)
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mapping keys
    comment = ""  # the first line of the comment block just above
    for number, line in enumerate((chart_dir / "values.yaml").read_text().splitlines(), 1):
        if line.lstrip().startswith("#"):
            comment = comment or line
            continue
        key = re.match(r"^( *)([A-Za-z][\w-]*):", line)
        if key:
            indent, name = len(key[1]), key[2]
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = ".".join([k for _, k in stack] + [name])
            if path in declared:
                assert re.match(rf"^ *# {name}\b", comment), f"values.yaml:{number}: {path} has no '# {name} ...'"
            stack.append((indent, name))
        comment = ""


@pytest.mark.parametrize(("setting", "complaint"), [
    ("postgresql.enabeld=false", "additional properties 'enabeld' not allowed"),
    ("image.pullPolicy=Sometimes", "value must be one of"),
    ("nodePorts.gateway.nodePort=8081", "minimum"),
    ("platform.gateway.maxReplicas=0", "minimum"),
    ("externalRedis.url=cache:6379", "does not match pattern"),
    ("platform.gateway.uploadBaseUrl=csms.example.com:8081", "does not match pattern"),
])
def test_helm_refuses_values_the_schema_does_not_allow(helm: Path, chart_dir: Path, setting: str,
                                                      complaint: str) -> None:
    done = subprocess.run([str(helm), "template", "x", str(chart_dir), "--set", setting],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert complaint in done.stderr


@pytest.mark.parametrize(("setting", "complaint"), [
    ("postgresql.enabled=false", "externalDatabase.url is required when postgresql.enabled is false"),
    ("redis.enabled=false", "externalRedis.url is required when redis.enabled is false"),
])
def test_an_external_server_needs_its_url(helm: Path, chart_dir: Path, setting: str, complaint: str) -> None:
    done = subprocess.run([str(helm), "template", "x", str(chart_dir), "--set", setting],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert complaint in done.stderr


def test_the_chart_deploys_the_projects_version(chart_dir: Path, project_version: str) -> None:
    assert yaml.safe_load((chart_dir / "Chart.yaml").read_text())["appVersion"] == project_version
