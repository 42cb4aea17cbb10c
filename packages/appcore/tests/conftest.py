"""Shared fixtures for appcore's tests: free ports and running a coroutine on a named loop."""

from __future__ import annotations

import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from appcore import new_event_loop

T = TypeVar("T")


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def arun() -> Callable[..., Any]:
    """Run a coroutine to completion on a fresh loop (``loop="asyncio"``), bounded by
    ``timeout`` seconds, and close the loop."""

    def run(coro: Coroutine[Any, Any, T], *, loop: str = "asyncio", timeout: float = 10.0) -> T:
        event_loop = new_event_loop(loop)
        try:
            return event_loop.run_until_complete(_bounded(coro, timeout))
        finally:
            event_loop.run_until_complete(event_loop.shutdown_asyncgens())
            event_loop.close()

    return run


async def _bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    import asyncio

    return await asyncio.wait_for(coro, timeout)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1: ``(cert.pem, key.pem)``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
