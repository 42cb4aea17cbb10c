"""Build the ``web`` server type's service from its validated options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appcore_web._limits import Limits
from appcore_web._site import Site, WebService

DEFAULT_ENDPOINT = "tcp:8080"


def endpoints_from(options: Mapping[str, Any]) -> list[str]:
    """The endpoints to listen on: every ``--listen``, then ``--port`` (a number means tcp)."""
    endpoints = list(options.get("listen") or ())
    port = options.get("port")
    if port:
        endpoints.append(f"tcp:{port}" if str(port).isdigit() else str(port))
    return endpoints or [DEFAULT_ENDPOINT]


def make_service(options: Mapping[str, Any]) -> WebService:
    """A :class:`WebService` for ``options`` (as validated by the ``web`` ServiceMaker)."""
    limits = Limits(
        max_body=options.get("max_body"),
        max_connections=options.get("max_connections"),
        idle_timeout=options.get("idle_timeout"),
        request_timeout=options.get("request_timeout"),
        send_timeout=options.get("send_timeout"),
        ws_max_message=options.get("ws_max_message"),
    )
    index = options.get("index") or "index.html,index.htm"
    site = Site(
        options.get("path"),
        index_names=[name.strip() for name in str(index).split(",")],
        listing=bool(options.get("listing", True)),
        follow_symlinks=bool(options.get("follow_symlinks", False)),
        allow_hidden=bool(options.get("allow_hidden", False)),
        precompressed=bool(options.get("precompressed", True)),
        wsgi=options.get("wsgi"),
        asgi=options.get("asgi"),
        threads=int(options.get("threads") or 10),
        access_log=options.get("logfile"),
        limits=limits,
    )
    return WebService(site, endpoints_from(options), workers=int(options.get("workers") or 1))
