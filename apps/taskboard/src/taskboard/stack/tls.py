"""The certificate nginx serves: your own (``STACK_TLS_CERT``/``STACK_TLS_KEY``), or one issued at
every start by a local certificate authority kept in ``var/stack/tls/``.

The CA is made once and reused, so a client told to trust it once keeps trusting the stack
across restarts: ``curl --cacert var/stack/tls/ca.pem https://127.0.0.1:8443/``, Python's
``ssl.create_default_context(cafile=...)``, or ``ca.pem`` imported into the browser's or the
system's store (Debian: copy it to ``/usr/local/share/ca-certificates/taskboard-stack.crt``, then
``update-ca-certificates``). Delete the folder to start over with a new CA. ``ca.key`` never
leaves this machine: anyone holding it can issue certificates your clients accept.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_NAME = "Taskboard stack local CA"
NAMES = ("127.0.0.1", "localhost")
"""What the issued certificate is valid for: the stack listens on 127.0.0.1 only."""
VALIDITY = datetime.timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Certificate:
    chain: Path
    key: Path
    ca: Path | None
    """The CA a client must trust; ``None`` for a certificate brought by the user."""


def local_certificate(directory: Path) -> Certificate:
    """A fresh certificate for :data:`NAMES`, from the CA in ``directory`` (made on first use)."""
    ca_pem, ca_key = directory / "ca.pem", directory / "ca.key"
    if ca_pem.is_file() and ca_key.is_file():
        ca = trustme.CA.from_pem(ca_pem.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name=CA_NAME)
        _write_private(ca_key, ca.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(ca_pem))
    now = datetime.datetime.now(datetime.UTC)
    leaf = ca.issue_cert(
        *NAMES, not_before=now - datetime.timedelta(hours=1), not_after=now + VALIDITY
    )
    chain, key = directory / "server.pem", directory / "server.key"
    _write_private(key, leaf.private_key_pem.bytes())
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return Certificate(chain=chain, key=key, ca=ca_pem)


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(data)
