"""A real Kubernetes control plane on loopback, started the way controller-runtime's envtest starts
one: etcd, kube-apiserver and kube-controller-manager built from their official Go modules
(scripts/build-tools.sh), serving certificates made on the fly, an admin credential, RBAC
authorization, the default admission plugins (CRD CEL validation among them) and the
controller-manager's controllers (the garbage collector, namespaces, service accounts,
Deployments -> ReplicaSets -> Pods). No kubelet and no scheduler: pods are created and stay
Pending; nothing runs in them.

    make cluster                      # or: PYTHONPATH=tests python -m support.controlplane up

writes a kubeconfig (`export KUBECONFIG=...` is printed) that kubectl and helm use; Ctrl-C
stops it. The tests start one per test session (tests/kubernetes/conftest.py).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chargeplane.supervisor import SupervisedProcess, stop_on_signals

from .tools import require_binary

SERVICE_CIDR = "10.0.0.0/24"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
# The in-cluster names of the API server, which its serving certificate must carry.
API_SERVER_NAMES = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local"]
ADMIN_USER = "chargeplane-admin"
# Every request's who, what and answer (no bodies), so tests can see what a client really asked
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


class ControlPlaneError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----- certificates ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyPair:
    certificate: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


class Pki:
    """A throwaway CA and the certificates signed by it, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.now = datetime.datetime.now(datetime.UTC)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("chargeplane-test-cluster-ca")).issuer_name(_name("chargeplane-test-cluster-ca"))
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca = folder / "ca.crt"
        self.ca.write_bytes(self.ca_certificate.public_bytes(serialization.Encoding.PEM))
        _write_key(self.ca_key, folder / "ca.key")

    def issue(self, stem: str, common_name: str, *, organization: str | None = None, server: bool = False,
              names: list[str] | None = None, addresses: list[str] | None = None) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization)).issuer_name(self.ca_certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=5))
            .not_valid_after(self.now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH if server
                                                  else x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if server:
            alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names or []]
            alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses or []]
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        certificate = builder.sign(self.ca_key, hashes.SHA256())
        pair = KeyPair(self.folder / f"{stem}.crt", self.folder / f"{stem}.key")
        pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        _write_key(key, pair.key)
        return pair

    def signing_key(self, stem: str) -> KeyPair:
        """The service-account token signing key (private) and its public half."""
        key = ec.generate_private_key(ec.SECP256R1())
        pair = KeyPair(self.folder / f"{stem}.pub", self.folder / f"{stem}.key")
        _write_key(key, pair.key)
        pair.certificate.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return pair


def write_kubeconfig(path: Path, server: str, ca: Path, *, user: str, certificate: Path | None = None,
                     key: Path | None = None, token: str | None = None, namespace: str = "default") -> Path:
    """A self-contained kubeconfig (certificates inlined): one cluster, one user, one context."""
    credentials: dict[str, str] = {}
    if certificate is not None and key is not None:
        credentials["client-certificate-data"] = base64.b64encode(certificate.read_bytes()).decode()
        credentials["client-key-data"] = base64.b64encode(key.read_bytes()).decode()
    if token is not None:
        credentials["token"] = token
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "chargeplane-test",
        "clusters": [{"name": "chargeplane-test", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode()}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "chargeplane-test", "context": {
            "cluster": "chargeplane-test", "user": user, "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    return path


# ----- processes ---------------------------------------------------------------------------------

def component(name: str, argv: list[str], log: Path) -> SupervisedProcess:
    """A process of the control plane, run as `chargeplane up` runs a service; never restarted
    (nothing polls it for that): one that exits fails the plane (ControlPlane.check_running)."""
    return SupervisedProcess(name, argv, dict(os.environ), log)


def log_tail(process: SupervisedProcess, lines: int = 30) -> str:
    text = process.log_path.read_text(errors="replace") if process.log_path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ControlPlane:
    """A running control plane; `kubeconfig` holds the admin credential (system:masters)."""

    folder: Path
    server: str
    ca: Path
    kubeconfig: Path
    admin: KeyPair
    components: list[SupervisedProcess] = field(default_factory=list)

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON event per request (user, verb, resource, code)."""
        return self.folder / "audit.log"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.admin.certificate), str(self.admin.key))
        return context

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{self.server}{path}", context=self.ssl_context(), timeout=timeout) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop(STOP_TIMEOUT_S)

    def check_running(self) -> None:
        for component in self.components:
            if (code := component.exited()) is not None:
                raise ControlPlaneError(f"{component.name} exited with code {code}:\n{log_tail(component)}")


def _wait(plane: ControlPlane, what: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        plane.check_running()
        with suppress(OSError):
            if ready():
                return
        time.sleep(0.2)
    raise ControlPlaneError(f"{what} not ready within {timeout:.0f} s:\n"
                            + "\n".join(f"--- {c.name}\n{log_tail(c)}" for c in plane.components))


def _etcd(folder: Path) -> tuple[SupervisedProcess, str]:
    etcd = require_binary("etcd", "etcd")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    argv = [str(etcd), "--name", "default", "--data-dir", str(folder / "etcd"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            # a test cluster: losing it in a power cut loses nothing of value
            "--unsafe-no-fsync", "--log-level", "warn"]
    return component("etcd", argv, folder / "etcd.log"), url


def start(folder: Path) -> ControlPlane:
    """Start etcd, kube-apiserver and kube-controller-manager on free loopback ports under `folder`."""
    apiserver_bin = require_binary("k8s", "kube-apiserver")
    manager_bin = require_binary("k8s", "kube-controller-manager")
    pki_dir = folder / "pki"
    pki_dir.mkdir(parents=True, exist_ok=True)
    pki = Pki(pki_dir)
    serving = pki.issue("apiserver", "kube-apiserver", server=True, names=API_SERVER_NAMES,
                        addresses=["127.0.0.1", "10.0.0.1"])
    admin = pki.issue("admin", ADMIN_USER, organization="system:masters")
    manager = pki.issue("controller-manager", "system:kube-controller-manager")
    service_accounts = pki.signing_key("service-accounts")

    etcd, etcd_url = _etcd(folder)
    (folder / "audit-policy.yaml").write_text(AUDIT_POLICY)
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    apiserver = component("kube-apiserver", [
        str(apiserver_bin), "--etcd-servers", etcd_url,
        "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(port),
        "--tls-cert-file", str(serving.certificate), "--tls-private-key-file", str(serving.key),
        "--client-ca-file", str(pki.ca), "--cert-dir", str(pki_dir),
        "--authorization-mode", "RBAC",
        "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file", str(service_accounts.certificate),
        "--service-account-signing-key-file", str(service_accounts.key),
        "--service-cluster-ip-range", SERVICE_CIDR, "--allow-privileged=true", "--profiling=false",
        "--audit-policy-file", str(folder / "audit-policy.yaml"), "--audit-log-path", str(folder / "audit.log"),
        "--audit-log-format", "json",
        "--v=1",
    ], folder / "kube-apiserver.log")
    plane = ControlPlane(folder, server, pki.ca, folder / "kubeconfig", admin, [etcd, apiserver])
    write_kubeconfig(plane.kubeconfig, server, pki.ca, user=ADMIN_USER, certificate=admin.certificate, key=admin.key)
    manager_kubeconfig = write_kubeconfig(folder / "controller-manager.kubeconfig", server, pki.ca,
                                          user="system:kube-controller-manager",
                                          certificate=manager.certificate, key=manager.key)
    controller_manager = component("kube-controller-manager", [
        str(manager_bin), "--kubeconfig", str(manager_kubeconfig),
        "--authentication-kubeconfig", str(manager_kubeconfig),
        "--authorization-kubeconfig", str(manager_kubeconfig),
        "--bind-address", "127.0.0.1", "--secure-port", "0", "--leader-elect=false",
        "--service-account-private-key-file", str(service_accounts.key), "--root-ca-file", str(pki.ca),
        "--use-service-account-credentials=true", "--v=1",
    ], folder / "kube-controller-manager.log")
    try:
        etcd.start()
        _wait(plane, "etcd", lambda: urllib.request.urlopen(f"{etcd_url}/health", timeout=1).status == 200,
              START_TIMEOUT_S)
        apiserver.start()
        _wait(plane, "kube-apiserver", lambda: plane.get("/readyz", timeout=2)[0] == 200, START_TIMEOUT_S)
        plane.components.append(controller_manager)
        controller_manager.start()
        # the service-account controller runs: the default namespace got its ServiceAccount
        _wait(plane, "kube-controller-manager",
              lambda: plane.get("/api/v1/namespaces/default/serviceaccounts/default", timeout=2)[0] == 200,
              START_TIMEOUT_S)
    except BaseException:
        plane.stop()
        raise
    return plane


@contextmanager
def running_control_plane(folder: Path | None = None) -> Iterator[ControlPlane]:
    """A control plane for the block; its state (etcd's data, certificates, logs) is removed after."""
    own = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="chargeplane-cluster-"))
    plane = start(folder)
    try:
        yield plane
    finally:
        plane.stop()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--dir", type=Path, default=Path(".data/cluster"),
                        help="where its state, logs and kubeconfig go (emptied first; default: %(default)s)")
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    stop = stop_on_signals()
    with running_control_plane(folder) as plane:
        print(f"\nA Kubernetes control plane is up at {plane.server} (etcd, kube-apiserver, "
              "kube-controller-manager; no kubelet: pods stay Pending).\n")
        print(f"  export KUBECONFIG={plane.kubeconfig}")
        print(f"  logs in {folder}\n")
        print("Ctrl-C stops it.", flush=True)
        while not stop.is_set():
            plane.check_running()
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
