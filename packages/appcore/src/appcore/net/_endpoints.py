"""Endpoint descriptions in Twisted's string syntax, parsed into plain frozen data.

A description is colon-separated: the kind first, then arguments, each either positional or
``key=value``. A backslash escapes the next character, so ``\\:`` is a literal colon (for IPv6
addresses and paths). A bare number means a TCP port. Examples::

    tcp:8080:interface=127.0.0.1:backlog=50     tcp6:8080:interface=\\:\\:1
    unix:/run/x.sock:mode=660:lockfile=1        udp:9999:interface=127.0.0.1
    ssl:8443:privateKey=key.pem:certKey=cert.pem
    systemd:domain=INET:index=0                 (socket activation, fd 3 + index)

    tcp:host=127.0.0.1:port=8080   tcp:127.0.0.1:8080   unix:path=/x.sock
    ssl:host=example.org:port=443:caCerts=ca.pem

The parsed endpoints are persisted with the services holding them; each keeps the string it
was parsed from as :attr:`description`, so a TAX or TAS file shows what the user typed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from appcore._errors import UsageError
from appcore.persist._persistent import Persistent

Converter = Callable[[str], Any]


@dataclass(frozen=True, kw_only=True)
class Endpoint(Persistent):
    """Base of every parsed endpoint; ``description`` is the original string."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = ""
    description: str

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True, kw_only=True)
class ServerEndpoint(Endpoint):
    """Where a server listens."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)


@dataclass(frozen=True, kw_only=True)
class ClientEndpoint(Endpoint):
    """Where a client connects to."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    timeout: float = 30.0


@dataclass(frozen=True, kw_only=True)
class TCPServerEndpoint(ServerEndpoint):
    """``tcp:PORT`` or ``tcp6:PORT``; ``interface`` is an IP address, empty for all."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "tcp"
    port: int
    interface: str = ""
    backlog: int = 50
    ipv6: bool = False


@dataclass(frozen=True, kw_only=True)
class SSLServerEndpoint(ServerEndpoint):
    """``ssl:PORT:privateKey=KEY.pem[:certKey=CERT.pem]``; TLS over TCP."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "ssl"
    port: int
    private_key: str
    cert_key: str = ""  # empty: the certificate is in the private key file
    interface: str = ""
    backlog: int = 50
    extra_cert_chain: str = ""
    dh_parameters: str = ""


@dataclass(frozen=True, kw_only=True)
class UNIXServerEndpoint(ServerEndpoint):
    """``unix:PATH``; ``mode`` is the socket file's permission bits."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "unix"
    path: str
    mode: int = 0o666
    backlog: int = 50
    lockfile: bool = False


@dataclass(frozen=True, kw_only=True)
class UDPServerEndpoint(ServerEndpoint):
    """``udp:PORT``; ``interface`` is an IP address, empty for all IPv4 addresses."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "udp"
    port: int
    interface: str = ""


@dataclass(frozen=True, kw_only=True)
class SystemdServerEndpoint(ServerEndpoint):
    """``systemd:domain=INET:index=0``: a socket inherited through ``LISTEN_FDS``."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "systemd"
    domain: str
    index: int = 0

    @property
    def fileno(self) -> int:
        """The inherited descriptor: systemd passes sockets from fd 3 on."""
        return 3 + self.index


@dataclass(frozen=True, kw_only=True)
class TCPClientEndpoint(ClientEndpoint):
    """``tcp:host=HOST:port=PORT`` (or ``tcp:HOST:PORT``)."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "tcp"
    host: str
    port: int


@dataclass(frozen=True, kw_only=True)
class SSLClientEndpoint(ClientEndpoint):
    """``ssl:host=HOST:port=PORT[:caCerts=CA.pem]``; without caCerts the system trust is used."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "ssl"
    host: str
    port: int
    ca_certs: str = ""
    cert_key: str = ""
    private_key: str = ""


@dataclass(frozen=True, kw_only=True)
class UNIXClientEndpoint(ClientEndpoint):
    """``unix:path=PATH`` (or ``unix:PATH``)."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    kind: ClassVar[str] = "unix"
    path: str


# --- value converters: each raises ValueError with the reason shown to the user


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _port(text: str) -> int:
    if not _is_number(text) or not 0 <= int(text) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, not {text!r}")
    return int(text)


def _remote_port(text: str) -> int:
    if not _is_number(text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535, not {text!r}")
    return int(text)


def _positive_int(what: str) -> Converter:
    def convert(text: str) -> int:
        if not _is_number(text) or int(text) < 1:
            raise ValueError(f"{what} must be a positive whole number, not {text!r}")
        return int(text)

    return convert


def _index(text: str) -> int:
    if not _is_number(text):
        raise ValueError(f"index must be a whole number from 0, not {text!r}")
    return int(text)


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode must be octal permission bits such as 660, not {text!r}")
    return mode


def _flag(text: str) -> bool:
    value = text.lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValueError(f"expected 0 or 1, not {text!r}")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {text!r}")
    return value


def _interface(version: int | None) -> Converter:
    def convert(text: str) -> str:
        if text == "":
            return text
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"interface must be an IP address, not {text!r}") from None
        if version is not None and address.version != version:
            raise ValueError(f"interface must be an IPv{version} address, not {text!r}")
        return text

    return convert


def _domain(text: str) -> str:
    value = text.upper()
    if value not in ("INET", "INET6", "UNIX"):
        raise ValueError(f"domain must be INET, INET6 or UNIX, not {text!r}")
    return value


def _text(what: str) -> Converter:
    def convert(text: str) -> str:
        if not text:
            raise ValueError(f"{what} must not be empty")
        return text

    return convert


# One parameter: (name in the description, dataclass field, converter, positional?)
_Param = tuple[str, str, Converter, bool]
_Spec = tuple[type[Endpoint], list[_Param], dict[str, Any]]

_TCP_SERVER: list[_Param] = [
    ("port", "port", _port, True),
    ("interface", "interface", _interface(None), True),
    ("backlog", "backlog", _positive_int("backlog"), True),
]
_TCP6_SERVER: list[_Param] = [
    ("port", "port", _port, True),
    ("interface", "interface", _interface(6), True),
    ("backlog", "backlog", _positive_int("backlog"), True),
]

_SERVER_SPECS: dict[str, _Spec] = {
    "tcp": (TCPServerEndpoint, _TCP_SERVER, {}),
    "tcp6": (TCPServerEndpoint, _TCP6_SERVER, {"ipv6": True, "interface": "::"}),
    "ssl": (
        SSLServerEndpoint,
        [
            ("port", "port", _port, True),
            ("privateKey", "private_key", _text("privateKey"), True),
            ("certKey", "cert_key", _text("certKey"), True),
            ("interface", "interface", _interface(None), True),
            ("backlog", "backlog", _positive_int("backlog"), True),
            ("extraCertChain", "extra_cert_chain", _text("extraCertChain"), False),
            ("dhParameters", "dh_parameters", _text("dhParameters"), False),
        ],
        {},
    ),
    "unix": (
        UNIXServerEndpoint,
        [
            ("path", "path", _text("path"), True),
            ("address", "path", _text("address"), False),  # Twisted's spelling
            ("mode", "mode", _mode, True),
            ("backlog", "backlog", _positive_int("backlog"), True),
            ("lockfile", "lockfile", _flag, True),
        ],
        {},
    ),
    "udp": (
        UDPServerEndpoint,
        [("port", "port", _port, True), ("interface", "interface", _interface(None), True)],
        {},
    ),
    "systemd": (
        SystemdServerEndpoint,
        [("domain", "domain", _domain, True), ("index", "index", _index, True)],
        {},
    ),
}

_CLIENT_SPECS: dict[str, _Spec] = {
    "tcp": (
        TCPClientEndpoint,
        [
            ("host", "host", _text("host"), True),
            ("port", "port", _remote_port, True),
            ("timeout", "timeout", _timeout, True),
        ],
        {},
    ),
    "ssl": (
        SSLClientEndpoint,
        [
            ("host", "host", _text("host"), True),
            ("port", "port", _remote_port, True),
            ("caCerts", "ca_certs", _text("caCerts"), False),
            ("certKey", "cert_key", _text("certKey"), False),
            ("privateKey", "private_key", _text("privateKey"), False),
            ("timeout", "timeout", _timeout, False),
        ],
        {},
    ),
    "unix": (
        UNIXClientEndpoint,
        [("path", "path", _text("path"), True), ("timeout", "timeout", _timeout, True)],
        {},
    ),
}


def split_description(text: str) -> tuple[list[str], dict[str, str]]:
    """Split a description into positional and keyword arguments, honouring backslashes.

    The kind (when present) is the first positional argument.
    """
    args: list[str] = []
    kwargs: dict[str, str] = {}
    current: list[str] = []
    key: str | None = None
    chars = iter(text)

    def finish() -> None:
        value = "".join(current)
        if key is None:
            args.append(value)
        elif key in kwargs:
            raise UsageError(f"bad endpoint {text!r}: {key!r} is given twice")
        else:
            kwargs[key] = value
        current.clear()

    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise UsageError(f"bad endpoint {text!r}: it ends with a lone backslash")
            current.append(escaped)
        elif char == ":":
            finish()
            key = None
        elif char == "=" and key is None:
            key = "".join(current)
            current.clear()
            if not key:
                raise UsageError(f"bad endpoint {text!r}: '=' without a name before it")
        else:
            current.append(char)
    finish()
    return args, kwargs


def _parse(text: str, specs: dict[str, _Spec], side: str, local_only: bool = False) -> Endpoint:
    text = text.strip()
    if not text:
        raise UsageError(f"empty {side} endpoint description")
    if _is_number(text):
        text = f"tcp:{text}"
    args, kwargs = split_description(text)
    kind = args.pop(0).lower() if args else ""
    spec = specs.get(kind)
    if spec is None:
        known = ", ".join(specs)
        raise UsageError(f"bad endpoint {text!r}: unknown {side} kind {kind!r}; known: {known}")
    cls, params, fixed = spec
    positional = [p for p in params if p[3]]
    if len(args) > len(positional):
        raise UsageError(
            f"bad endpoint {text!r}: too many positional arguments for {kind} "
            f"(at most {len(positional)})"
        )
    given: list[tuple[_Param, str]] = list(zip(positional, args, strict=False))
    by_name = {p[0]: p for p in params}
    for name, value in kwargs.items():
        param = by_name.get(name)
        if param is None:
            known = ", ".join(p[0] for p in params)
            raise UsageError(
                f"bad endpoint {text!r}: unknown option {name!r} for {kind} (known: {known})"
            )
        given.append((param, value))
    values: dict[str, Any] = dict(fixed)
    seen: set[str] = set()
    for (name, field, convert, _), raw in given:
        if field in seen:
            raise UsageError(f"bad endpoint {text!r}: {name!r} is given twice")
        seen.add(field)
        try:
            values[field] = convert(raw)
        except ValueError as err:
            raise UsageError(f"bad endpoint {text!r}: {err}") from None
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in values
        and f.name != "description"
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        names = {field: name for name, field, _, _ in params}
        wanted = ", ".join(names.get(m, m) for m in missing)
        raise UsageError(f"bad endpoint {text!r}: {kind} needs {wanted}")
    if local_only:
        text = _restrict_to_local(text, kind, seen, values)
    return cls(description=text, **values)


# What ``local_only`` fills in when the description leaves it out: (field, value, spelled).
_LOCAL_DEFAULTS: dict[str, tuple[str, Any, str]] = {
    "tcp": ("interface", "127.0.0.1", "interface=127.0.0.1"),
    "tcp6": ("interface", "::1", r"interface=\:\:1"),
    "ssl": ("interface", "127.0.0.1", "interface=127.0.0.1"),
    "udp": ("interface", "127.0.0.1", "interface=127.0.0.1"),
    "unix": ("mode", 0o600, "mode=600"),
}


def _restrict_to_local(text: str, kind: str, given: set[str], values: dict[str, Any]) -> str:
    """Fill in the local-only default of ``kind`` unless given; the description says so too,
    so a saved file shows what the endpoint really is."""
    default = _LOCAL_DEFAULTS.get(kind)
    if default is None or default[0] in given:
        return text
    field, value, spelled = default
    values[field] = value
    return f"{text}:{spelled}"


def parse_server_endpoint(text: str, *, local_only: bool = False) -> ServerEndpoint:
    """Parse a server (listening) endpoint description; ``UsageError`` names the bad part.

    ``local_only``: what the description leaves out defaults to this machine only, for
    every kind: tcp, ssl and udp listen on 127.0.0.1 (tcp6 on ::1) rather than on every
    interface, and a unix socket gets mode 600 (its owner only) rather than 666. Whatever
    the description spells out is kept, and the filled-in default is added to
    :attr:`~Endpoint.description`. For services that must not be reachable from elsewhere
    unless asked to be (a manhole runs code for whoever logs in).
    """
    endpoint = _parse(text, _SERVER_SPECS, "server", local_only)
    assert isinstance(endpoint, ServerEndpoint)
    return endpoint


def parse_client_endpoint(text: str) -> ClientEndpoint:
    """Parse a client (connecting) endpoint description; ``UsageError`` names the bad part."""
    endpoint = _parse(text, _CLIENT_SPECS, "client")
    assert isinstance(endpoint, ClientEndpoint)
    return endpoint
