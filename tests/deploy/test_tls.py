"""TLS as a client meets it: HTTP/2, a certificate the stack's CA vouches for, TLS 1.2/1.3 only."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from taskboard.stack.tls import local_certificate
from tests.deploy.conftest import RunningStack


def test_https_answers_over_http2_with_a_certificate_from_the_stacks_ca(
    stack: RunningStack,
) -> None:
    with stack.client() as client:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.json() == {"status": "ok"}
    assert response.headers["server"] == "nginx"  # no version number


def test_curl_trusts_the_ca_and_negotiates_http2(stack: RunningStack) -> None:
    result = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(stack.ca), "-o", "/dev/null",
         "-w", "%{http_version} %{http_code} %{ssl_verify_result}", f"{stack.url}readyz"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip

    assert result.stdout == "2 200 0", result.stderr


def test_a_client_without_the_ca_refuses_the_certificate(stack: RunningStack) -> None:
    context = ssl.create_default_context()  # the system's trust store only
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw,
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_offered(stack: RunningStack, version: ssl.TLSVersion) -> None:
    context = stack.ssl_context()
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["h2", "http/1.1"])

    with (
        socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == version.name.replace("_", ".")
        assert tls.selected_alpn_protocol() == "h2"
        certificate = tls.getpeercert()
    assert certificate is not None
    alt_names = certificate["subjectAltName"]
    assert isinstance(alt_names, tuple)
    names = [str(pair[1]) for pair in alt_names]

    assert {"127.0.0.1", "localhost"} <= set(names)


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused_by_the_server(stack: RunningStack, flag: str) -> None:
    # openssl, not Python's ssl module, which no longer lets a client offer them; SECLEVEL=0 so
    # that this client does offer them and the refusal is the server's (alert 70).
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{stack.port}", flag,
         "-cipher", "DEFAULT@SECLEVEL=0", "-servername", "127.0.0.1"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "alert protocol version" in result.stderr, result.stderr


def test_the_local_ca_is_made_once_and_reused_for_each_new_certificate(tmp_path: Path) -> None:
    first = local_certificate(tmp_path)
    ca_before = (tmp_path / "ca.pem").read_bytes()
    first_leaf = first.chain.read_bytes()

    second = local_certificate(tmp_path)

    assert second.ca is not None
    assert second.ca.read_bytes() == ca_before
    assert second.chain.read_bytes() != first_leaf  # a fresh certificate every start
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert second.key.stat().st_mode & 0o777 == 0o600
    context = ssl.create_default_context(cafile=str(second.ca))
    context.load_cert_chain(str(second.chain), str(second.key))  # the pair matches
