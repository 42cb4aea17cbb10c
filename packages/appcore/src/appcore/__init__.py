"""appcore: the shared core of the tap toolchain.

Service trees (:class:`Application`, :class:`MultiService`, :class:`Service`), endpoint-driven
network services, event loop choice, server-type plugins, persistence formats, logging and
the CLI boundary every tool shares.

Names are imported lazily on first use, so ``import appcore`` stays cheap: a tool that only
needs one part never pays for the others (asyncio, XML parsing, cryptography).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {}


def _export(module: str, *names: str) -> None:
    for name in names:
        _EXPORTS[name] = module


# --- errors and exit codes
_export(
    "_errors",
    "ExitCode",
    "AppcoreError",
    "UsageError",
    "DataError",
    "NoInputError",
    "UnavailableError",
    "InternalError",
    "CantCreateError",
    "IOFailure",
    "PermissionDenied",
    "describe_os_error",
)
_export("_numbers", "check_number", "number_problem")
# --- the service tree
_export(
    "persist._persistent", "Persistent", "register_persistable", "persistable_class", "class_path"
)
_export(
    "service._tree",
    "IService",
    "Service",
    "MultiService",
    "Application",
    "iter_services",
    "validate_tree",
    "settle",
    "Format",
    "FORMATS",
)
# --- event loops and running
_export(
    "_loops",
    "LOOP_NAMES",
    "DEFAULT_LOOP",
    "LoopKind",
    "loop_kinds",
    "available_loops",
    "new_event_loop",
)
_export("_runner", "start_application", "stop_application", "serve_until_signal", "run_application")
# --- the CLI boundary
_export("_cli", "run_cli", "error_line", "version_callback", "distribution_version")
# --- endpoints and network services
_export(
    "net._endpoints",
    "Endpoint",
    "ServerEndpoint",
    "ClientEndpoint",
    "TCPServerEndpoint",
    "SSLServerEndpoint",
    "UNIXServerEndpoint",
    "UDPServerEndpoint",
    "SystemdServerEndpoint",
    "TCPClientEndpoint",
    "SSLClientEndpoint",
    "UNIXClientEndpoint",
    "parse_server_endpoint",
    "parse_client_endpoint",
    "split_description",
)
_export(
    "net._sockets",
    "Listener",
    "bind_stream",
    "bind_datagram",
    "bind_error",
    "server_ssl_context",
    "client_ssl_context",
)
_export("net._connections", "ConnectionTracker")
_export("net._accept", "Acceptor", "StreamServer", "serve_stream")
_export("_logins", "LoginThrottle", "source_key", "LOGIN_TIMEOUT", "login_timeout_option")
_export("net._protocols", "Factory", "DatagramFactory", "EchoFactory", "EchoDatagramFactory")
_export("net._server", "ListeningService", "StreamServerService", "DatagramServerService")
_export("net._client", "ReconnectingClientService")
_export("service._timer", "TimerService", "PeriodicAction")
# --- plugins, options, logging
_export("plugins._options", "Option", "Options")
_export(
    "plugins._discovery",
    "ServiceMaker",
    "PluginError",
    "Discovery",
    "discover_service_makers",
    "get_service_maker",
    "allowed_persistable_modules",
    "missing_server_types",
)
_export("_log", "configure_logging", "get_logger", "SyslogObserver", "JsonFormatter")
_export("_logfile", "FileObserver", "reopen_logs")
# --- persistence
_export(
    "persist._files",
    "dumps",
    "loads",
    "save_application",
    "load_application",
    "load_file",
    "format_from_path",
    "sniff_format",
    "application_filename",
    "EXTENSIONS",
    "SHUTDOWN_TAG",
)
_export("persist._atomic", "write_atomic")
_export("persist._input", "read_input", "read_stream", "input_limit", "MAX_INPUT_ENV")
_export("persist._graph", "structurally_equal")
_export(
    "_passwords",
    "hash_password",
    "verify_password",
    "password_line",
    "read_password_file",
    "check_password",
)


__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from appcore._cli import distribution_version

        value: Any = distribution_version("appcore")
    elif name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
    else:
        raise AttributeError(f"module 'appcore' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from appcore._cli import (
        distribution_version,
        error_line,
        run_cli,
        version_callback,
    )
    from appcore._errors import (
        AppcoreError,
        CantCreateError,
        DataError,
        ExitCode,
        InternalError,
        IOFailure,
        NoInputError,
        PermissionDenied,
        UnavailableError,
        UsageError,
        describe_os_error,
    )
    from appcore._log import (
        JsonFormatter,
        SyslogObserver,
        configure_logging,
        get_logger,
    )
    from appcore._logfile import (
        FileObserver,
        reopen_logs,
    )
    from appcore._logins import (
        LOGIN_TIMEOUT,
        LoginThrottle,
        login_timeout_option,
        source_key,
    )
    from appcore._loops import (
        DEFAULT_LOOP,
        LOOP_NAMES,
        LoopKind,
        available_loops,
        loop_kinds,
        new_event_loop,
    )
    from appcore._numbers import check_number, number_problem
    from appcore._passwords import (
        check_password,
        hash_password,
        password_line,
        read_password_file,
        verify_password,
    )
    from appcore._runner import (
        run_application,
        serve_until_signal,
        start_application,
        stop_application,
    )
    from appcore.net._accept import (
        Acceptor,
        StreamServer,
        serve_stream,
    )
    from appcore.net._client import (
        ReconnectingClientService,
    )
    from appcore.net._connections import (
        ConnectionTracker,
    )
    from appcore.net._endpoints import (
        ClientEndpoint,
        Endpoint,
        ServerEndpoint,
        SSLClientEndpoint,
        SSLServerEndpoint,
        SystemdServerEndpoint,
        TCPClientEndpoint,
        TCPServerEndpoint,
        UDPServerEndpoint,
        UNIXClientEndpoint,
        UNIXServerEndpoint,
        parse_client_endpoint,
        parse_server_endpoint,
        split_description,
    )
    from appcore.net._protocols import (
        DatagramFactory,
        EchoDatagramFactory,
        EchoFactory,
        Factory,
    )
    from appcore.net._server import (
        DatagramServerService,
        ListeningService,
        StreamServerService,
    )
    from appcore.net._sockets import (
        Listener,
        bind_datagram,
        bind_error,
        bind_stream,
        client_ssl_context,
        server_ssl_context,
    )
    from appcore.persist._atomic import (
        write_atomic,
    )
    from appcore.persist._files import (
        EXTENSIONS,
        SHUTDOWN_TAG,
        application_filename,
        dumps,
        format_from_path,
        load_application,
        load_file,
        loads,
        save_application,
        sniff_format,
    )
    from appcore.persist._graph import (
        structurally_equal,
    )
    from appcore.persist._input import (
        MAX_INPUT_ENV,
        input_limit,
        read_input,
        read_stream,
    )
    from appcore.persist._persistent import (
        Persistent,
        class_path,
        persistable_class,
        register_persistable,
    )
    from appcore.plugins._discovery import (
        Discovery,
        PluginError,
        ServiceMaker,
        allowed_persistable_modules,
        discover_service_makers,
        get_service_maker,
        missing_server_types,
    )
    from appcore.plugins._options import (
        Option,
        Options,
    )
    from appcore.service._timer import (
        PeriodicAction,
        TimerService,
    )
    from appcore.service._tree import (
        FORMATS,
        Application,
        Format,
        IService,
        MultiService,
        Service,
        iter_services,
        settle,
        validate_tree,
    )

    __version__: str
