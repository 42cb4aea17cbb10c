"""Sockets and TLS contexts for endpoints: binding, socket activation, error mapping.

Servers create their listening sockets here, synchronously, so the bind can happen in
``privileged_start_service`` (before the process drops root) and any failure surfaces as a
one-line domain error: address in use (69), permission denied (77), missing key file (66).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import ssl
import stat
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from appcore._errors import (
    AppcoreError,
    CantCreateError,
    DataError,
    NoInputError,
    PermissionDenied,
    UnavailableError,
    describe_os_error,
)
from appcore.net._endpoints import (
    Endpoint,
    ServerEndpoint,
    SSLClientEndpoint,
    SSLServerEndpoint,
    SystemdServerEndpoint,
    TCPServerEndpoint,
    UDPServerEndpoint,
    UNIXServerEndpoint,
)

_T = TypeVar("_T")

_DOMAINS = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}


class Listener:
    """A bound socket plus what must be cleaned up with it (UNIX socket file, lock file)."""

    def __init__(
        self, sock: socket.socket, unix_path: str | None = None, lock_fd: int | None = None
    ) -> None:
        self.sock = sock
        self.unix_path = unix_path
        self.lock_fd = lock_fd
        self._address: Any = sock.getsockname()

    def address(self) -> Any:
        """The bound address (kept from the bind: a loop may take the socket over)."""
        return self._address

    def close(self) -> None:
        """Close the socket (a no-op once a loop closed it) and remove the socket file."""
        self.sock.close()
        if self.unix_path is not None:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(self.unix_path).st_mode):
                    os.unlink(self.unix_path)
            self.unix_path = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # releases the flock
            self.lock_fd = None


def bind_error(endpoint: Endpoint, err: OSError) -> AppcoreError:
    """The domain error for a failed bind, naming the endpoint."""
    where = endpoint.description
    if err.errno == errno.EADDRINUSE:
        return UnavailableError(f"{where}: address already in use")
    if err.errno in (errno.EACCES, errno.EPERM):
        port = getattr(endpoint, "port", None)
        hint = " (ports below 1024 need root)" if port is not None and 0 < port < 1024 else ""
        return PermissionDenied(f"{where}: permission denied{hint}")
    if err.errno == errno.EADDRNOTAVAIL:
        return UnavailableError(f"{where}: address not available on this machine")
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return CantCreateError(f"{where}: {describe_os_error(err)}")
    return UnavailableError(f"{where}: {describe_os_error(err)}")


def bind_stream(endpoint: ServerEndpoint) -> Listener:
    """A listening, non-blocking stream socket for a tcp, tcp6, ssl, unix or systemd endpoint."""
    if isinstance(endpoint, TCPServerEndpoint | SSLServerEndpoint):
        ipv6 = getattr(endpoint, "ipv6", False)
        sock = _bind_inet(endpoint, endpoint.interface, endpoint.port, socket.SOCK_STREAM, ipv6)
        return _listen(endpoint, Listener(sock), endpoint.backlog)
    if isinstance(endpoint, UNIXServerEndpoint):
        return _listen(endpoint, _bind_unix(endpoint), endpoint.backlog)
    if isinstance(endpoint, SystemdServerEndpoint):
        return Listener(inherited_socket(endpoint, socket.SOCK_STREAM))
    raise UnavailableError(f"{endpoint.description}: not a stream endpoint (use a stream kind)")


def bind_datagram(endpoint: ServerEndpoint) -> Listener:
    """A bound, non-blocking datagram socket for a udp or systemd endpoint."""
    if isinstance(endpoint, UDPServerEndpoint):
        sock = _bind_inet(endpoint, endpoint.interface, endpoint.port, socket.SOCK_DGRAM, False)
        return Listener(sock)
    if isinstance(endpoint, SystemdServerEndpoint):
        return Listener(inherited_socket(endpoint, socket.SOCK_DGRAM))
    raise UnavailableError(f"{endpoint.description}: not a datagram endpoint (use udp or systemd)")


def _bind_inet(
    endpoint: ServerEndpoint, interface: str, port: int, kind: int, ipv6: bool
) -> socket.socket:
    family = socket.AF_INET6 if ipv6 or ":" in interface else socket.AF_INET
    host = interface or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    flags = socket.AI_PASSIVE | socket.AI_NUMERICHOST
    try:
        # getaddrinfo turns a scoped IPv6 address (fe80::1%eth0) into the 4-tuple bind wants.
        address = socket.getaddrinfo(host, port, family, kind, 0, flags)[0][4]
    except socket.gaierror as err:
        raise UnavailableError(f"{endpoint.description}: {err.strerror}") from None
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # Restart at once on a port whose old connections linger in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise bind_error(endpoint, err) from None
    return sock


def _listen(endpoint: ServerEndpoint, listener: Listener, backlog: int) -> Listener:
    try:
        listener.sock.listen(backlog)
    except OSError as err:
        listener.close()
        raise bind_error(endpoint, err) from None
    return listener


def _bind_unix(endpoint: UNIXServerEndpoint) -> Listener:
    path = endpoint.path
    lock_fd = _take_lock(endpoint) if endpoint.lockfile else None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _remove_stale_socket(endpoint, trust_lock=lock_fd is not None)
        _bind_with_mode(sock, path, endpoint.mode)
        sock.setblocking(False)
    except BaseException as err:
        sock.close()
        if lock_fd is not None:
            os.close(lock_fd)
        if isinstance(err, OSError):
            raise bind_error(endpoint, err) from None
        raise
    return Listener(sock, unix_path=path, lock_fd=lock_fd)


def _bind_with_mode(sock: socket.socket, path: str, mode: int) -> None:
    """Bind ``sock`` to ``path`` so the socket file never has more permissions than ``mode``.

    A chmod after the bind alone leaves a moment in which anyone allowed by the umask can
    connect; the umask is tightened (never loosened) around the bind instead. It is
    process-wide: a file another thread creates in that instant gets fewer permissions,
    never more.
    """
    old = os.umask(0o777)
    try:
        os.umask(old | (0o777 & ~mode))
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, mode)  # bits the umask took away (and set-id bits) as asked


def _take_lock(endpoint: UNIXServerEndpoint) -> int:
    lock_path = endpoint.path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise bind_error(endpoint, err) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UnavailableError(
            f"{endpoint.description}: address already in use (another process holds {lock_path})"
        ) from None
    return fd


def _remove_stale_socket(endpoint: UNIXServerEndpoint, *, trust_lock: bool) -> None:
    """Remove a socket file left by a dead server; refuse to touch a live one or a file."""
    path = endpoint.path
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise UnavailableError(f"{endpoint.description}: {path} exists and is not a socket")
    if not trust_lock:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            pass  # nobody accepts there: the file is stale
        else:
            raise UnavailableError(f"{endpoint.description}: address already in use")
        finally:
            probe.close()
    os.unlink(path)


def inherited_socket(endpoint: SystemdServerEndpoint, kind: int) -> socket.socket:
    """The socket systemd passed as fd ``3 + index``, checked against the endpoint.

    The descriptor is duplicated, so the service can be stopped and started again.
    """
    where = endpoint.description
    count_text = os.environ.get("LISTEN_FDS")
    pid_text = os.environ.get("LISTEN_PID")
    if not count_text:
        raise UnavailableError(f"{where}: no sockets were passed (LISTEN_FDS is not set)")
    if pid_text != str(os.getpid()):
        raise UnavailableError(
            f"{where}: the sockets were passed to process {pid_text}, not to this one"
        )
    if not count_text.isdigit():
        raise UnavailableError(f"{where}: LISTEN_FDS is not a number: {count_text!r}")
    if endpoint.index >= int(count_text):
        raise UnavailableError(
            f"{where}: index {endpoint.index} but only {count_text} socket(s) were passed"
        )
    try:
        sock = socket.socket(fileno=os.dup(endpoint.fileno))
    except OSError as err:
        raise UnavailableError(
            f"{where}: fd {endpoint.fileno} is not a socket ({describe_os_error(err)})"
        ) from None
    wanted_type = "stream" if kind == socket.SOCK_STREAM else "datagram"
    problem = ""
    if sock.family != _DOMAINS[endpoint.domain]:
        problem = f"is a {sock.family.name} socket, not {endpoint.domain}"
    elif sock.type != kind:
        problem = f"is not a {wanted_type} socket"
    elif kind == socket.SOCK_STREAM and not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        problem = "is not listening"
    if problem:
        sock.close()
        raise UnavailableError(f"{where}: fd {endpoint.fileno} {problem}")
    sock.setblocking(False)
    return sock


def server_ssl_context(endpoint: SSLServerEndpoint) -> ssl.SSLContext:
    """A TLS server context from the endpoint's PEM files; missing files are NoInputError."""
    key = endpoint.private_key
    cert = endpoint.cert_key or key
    for option, path in (
        ("privateKey", key),
        ("certKey", cert),
        ("extraCertChain", endpoint.extra_cert_chain),
        ("dhParameters", endpoint.dh_parameters),
    ):
        if path:
            _check_readable(endpoint, option, path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if endpoint.extra_cert_chain:
        # ssl takes intermediates only from the certificate file itself: join them privately.
        chain = _read(endpoint, "certKey", cert) + b"\n"
        chain += _read(endpoint, "extraCertChain", endpoint.extra_cert_chain)
        with tempfile.TemporaryDirectory() as folder:
            joined = os.path.join(folder, "chain.pem")
            with open(joined, "wb") as out:
                out.write(chain)
            _load(endpoint, "certKey", cert, lambda: context.load_cert_chain(joined, key))
    else:
        _load(endpoint, "certKey", cert, lambda: context.load_cert_chain(cert, key))
    if endpoint.dh_parameters:
        dh = endpoint.dh_parameters
        _load(endpoint, "dhParameters", dh, lambda: context.load_dh_params(dh))
    return context


def client_ssl_context(endpoint: SSLClientEndpoint) -> ssl.SSLContext:
    """A TLS client context verifying the server (against ``caCerts`` or the system trust)."""
    ca = endpoint.ca_certs
    if ca and not os.path.isdir(ca):
        _check_readable(endpoint, "caCerts", ca)

    def make() -> ssl.SSLContext:
        if os.path.isdir(ca):
            return ssl.create_default_context(capath=ca)
        return ssl.create_default_context(cafile=ca or None)

    context = _load(endpoint, "caCerts", ca, make)
    if endpoint.cert_key or endpoint.private_key:
        cert = endpoint.cert_key or endpoint.private_key
        key = endpoint.private_key or None
        _check_readable(endpoint, "certKey", cert)
        _load(endpoint, "certKey", cert, lambda: context.load_cert_chain(cert, key))
    return context


def _check_readable(endpoint: Endpoint, option: str, path: str) -> None:
    # ssl's own errors for a missing file do not name it; name it here.
    _read(endpoint, option, path)


def _read(endpoint: Endpoint, option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as source:
            return source.read()
    except OSError as err:
        reason = err.strerror or str(err)
        raise NoInputError(
            f"{endpoint.description}: cannot read {option} file {path}: {reason}"
        ) from None


def _load(endpoint: Endpoint, option: str, path: str, load: Callable[[], _T]) -> _T:
    where = endpoint.description
    try:
        return load()
    except ssl.SSLError as err:  # before OSError: SSLError is one
        raise DataError(f"{where}: {option} {path}: not usable ({err.reason or err})") from None
    except OSError as err:
        raise NoInputError(f"{where}: {option} {path}: {err.strerror or err}") from None
