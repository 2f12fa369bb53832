"""kopf logs in with the credentials of the operator's own Kubernetes client configuration."""

from __future__ import annotations

from kubernetes_asyncio.client import Configuration

from chargeplane.operator.kube import connection_info


async def test_kopf_gets_the_server_token_and_ca_of_the_client_configuration() -> None:
    configuration = Configuration(host="https://10.96.0.1:443", api_key={"BearerToken": "Bearer abc.def"})
    configuration.ssl_ca_cert = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    info = await connection_info(configuration)
    assert (info.server, info.scheme, info.token, info.ca_path, info.insecure) == (
        "https://10.96.0.1:443", "Bearer", "abc.def", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", False)


async def test_client_certificates_go_through_without_a_token() -> None:
    configuration = Configuration(host="https://127.0.0.1:6443")
    configuration.cert_file, configuration.key_file = "/tmp/client.crt", "/tmp/client.key"
    info = await connection_info(configuration)
    assert (info.token, info.scheme) == (None, None)
    assert (info.certificate_path, info.private_key_path) == ("/tmp/client.crt", "/tmp/client.key")
