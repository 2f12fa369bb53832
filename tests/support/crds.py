"""Custom resources checked against the CRDs in `crds/`, as a strict API server would
(kubectl's default field validation rejects unknown fields), with no server at hand."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

Manifest = dict[str, Any]


def yaml_documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def crd_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def _closed(schema: Any) -> Any:
    """The schema with unknown properties refused wherever the CRD does not let them through."""
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_closed(item) for item in schema]
    return schema


def spec_schemas(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict JSON schema of `spec`, for every served version."""
    schemas = {}
    for path in crd_files(folder):
        for crd in yaml_documents(path.read_text()):
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                spec = version["schema"]["openAPIV3Schema"].get("properties", {}).get("spec")
                if version.get("served", True) and spec is not None:
                    schemas[(f"{group}/{version['name']}", kind)] = _closed(copy.deepcopy(spec))
    return schemas


def spec_errors(resource: Manifest, schemas: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """What a strict API server would refuse in this custom resource's spec."""
    key = (resource["apiVersion"], resource["kind"])
    if key not in schemas:
        return [f"no CRD in crds/ serves {key[1]} {key[0]}"]
    validator = jsonschema.Draft7Validator(schemas[key])
    return [f"{resource['kind']}/{resource['metadata']['name']} spec.{'.'.join(map(str, e.absolute_path))}: "
            f"{e.message}" for e in validator.iter_errors(resource.get("spec", {}))]
