"""Helpers for testing services and server types, as appcore's own plugins test theirs.

Plain functions (no test framework needed); wrap them in fixtures where you use pytest::

    from appcore.testing import free_port, run_coroutine

    def test_serves(tmp_path):
        port = free_port()
        run_coroutine(scenario(port), loop="uvloop", timeout=10)
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import resource
import socket
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from appcore import Application, Service, dumps, loads, new_event_loop

T = TypeVar("T")

__all__ = [
    "descriptor_limit",
    "descriptor_room",
    "free_port",
    "round_trip",
    "run_coroutine",
    "self_signed_certificate",
]


# Ports handed out by free_port in this process: the kernel may give a port just released
# to the next bind to port 0, and a test asking for several ports needs them distinct.
_handed_out: set[tuple[int, int]] = set()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).

    ``kind`` is ``socket.SOCK_STREAM`` (TCP) or ``socket.SOCK_DGRAM`` (UDP). A port is never
    handed out twice by one process, so consecutive calls give distinct ports.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if (kind, port) not in _handed_out:
            _handed_out.add((kind, port))
            return port
    raise RuntimeError("the kernel keeps giving out ports this process has already used")


def descriptor_limit(count: int) -> Callable[[], None]:
    """A ``preexec_fn`` for :mod:`subprocess`: the child may hold at most ``count`` file
    descriptors (soft and hard ``RLIMIT_NOFILE``), to test a server running out of them."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


@contextlib.contextmanager
def descriptor_room(at_least: int = 1024) -> Iterator[None]:
    """Raise this process's soft descriptor limit to ``at_least`` (within the hard limit) for
    the block: a test holding many client sockets needs the room it denies the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, at_least)), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def run_coroutine(
    coro: Coroutine[Any, Any, T], *, loop: str = "asyncio", timeout: float = 10.0
) -> T:
    """Run ``coro`` on a fresh event loop of kind ``loop``, at most ``timeout`` seconds."""
    event_loop = new_event_loop(loop)
    try:
        return event_loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        event_loop.close()


def round_trip(service: Service) -> list[Application]:
    """``service`` in an Application reloaded from a plain pickle and from TAP, TAX and TAS.

    Works on a running tree too: only configuration is saved, runtime state is skipped.
    """
    app = Application("roundtrip")
    app.services.append(service)  # no set_service_parent: the service may be running
    app.named_services = {s.name: s for s in app.services if s.name is not None}
    copies: list[Any] = [pickle.loads(pickle.dumps(app))]
    for fmt in ("pickle", "xml", "source"):
        copies.append(loads(dumps(app, fmt), fmt))
    service.parent = None
    for copy in copies:
        assert isinstance(copy, Application)
        assert not copy.running
    return copies


def self_signed_certificate(folder: Path) -> tuple[str, str]:
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
