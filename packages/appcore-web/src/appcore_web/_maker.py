"""The ``web`` server type declaration: its name, options and where its code lives.

Light on purpose: listing server types imports this, never the server code.
"""

from __future__ import annotations

from appcore import Option, Options, ServiceMaker


def _index_names(value: str) -> str:
    names = [n.strip() for n in value.split(",")]
    if not all(names) or any("/" in n for n in names):
        raise ValueError(f"expected comma-separated file names, got {value!r}")
    return value


def _app_spec(value: str) -> str:
    from appcore_web._site import check_app_spec

    return check_app_spec(value)


OPTIONS = Options(
    Option("path", str, help="Folder of static files to serve.", metavar="DIR"),
    Option(
        "listen",
        list[str],
        default=(),
        help="Endpoint to listen on (repeatable), e.g. tcp:8080 or ssl:8443:privateKey=key.pem."
        " [default: tcp:8080]",
        metavar="ENDPOINT",
    ),
    Option("port", str, help="Same as --listen; a bare number means tcp:NUMBER.", short="p"),
    Option(
        "wsgi",
        str,
        help="Serve this WSGI application (module:attribute).",
        validate=_app_spec,
        metavar="MODULE:APP",
    ),
    Option(
        "asgi",
        str,
        help="Serve this ASGI 3 application (module:attribute).",
        validate=_app_spec,
        metavar="MODULE:APP",
    ),
    Option(
        "threads",
        int,
        default=10,
        help="Threads running the WSGI application.",
        at_least=1,
    ),
    Option(
        "index",
        str,
        default="index.html,index.htm",
        help="File names served for a folder, comma separated.",
        validate=_index_names,
    ),
    Option("listing", bool, default=True, help="List folders that have no index file."),
    Option(
        "follow_symlinks",
        bool,
        default=False,
        help="Serve symbolic links that point outside the root folder.",
    ),
    Option(
        "allow_hidden",
        bool,
        default=False,
        help="Serve and list names beginning with a dot (.git, .env).",
    ),
    Option(
        "precompressed",
        bool,
        default=True,
        help="Serve FILE.br or FILE.gz instead of FILE to clients that accept it"
        " (when not older than FILE).",
    ),
    Option(
        "logfile", str, help="Access log file (combined log format).", short="l", metavar="FILE"
    ),
    Option(
        "workers",
        int,
        default=1,
        help="Worker processes sharing the ports.",
        at_least=1,
    ),
    Option(
        "max_body",
        int,
        default=1 << 20,
        help="Largest request body in bytes (413 beyond).",
        at_least=1,
    ),
    Option(
        "max_connections",
        int,
        default=10000,
        help="Open connections per process (503 beyond).",
        at_least=1,
    ),
    Option(
        "ws_max_message",
        int,
        default=1 << 20,
        help="Largest WebSocket message in bytes (ASGI); a bigger one closes the"
        " connection with code 1009.",
        at_least=1,
    ),
    Option(
        "idle_timeout",
        float,
        default=15.0,
        help="Seconds a keep-alive connection may sit idle.",
        more_than=0,
    ),
    Option(
        "request_timeout",
        float,
        default=10.0,
        help="Seconds a client has to send a whole request (slow clients get 408).",
        more_than=0,
    ),
    Option(
        "send_timeout",
        float,
        default=30.0,
        help="Seconds a client may read nothing before it is dropped.",
        more_than=0,
    ),
)

web = ServiceMaker(
    "web",
    "An HTTP/1.1 server for a folder of files, a WSGI or an ASGI application.",
    OPTIONS,
    module="appcore_web.tap",
    persistable_modules=("appcore_web",),
)
