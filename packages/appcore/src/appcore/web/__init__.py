"""The ``web`` server type: static files, WSGI and ASGI applications over HTTP/1.1.

:class:`Site` is the persisted configuration and protocol factory; :class:`WebService`
serves it on endpoints (in worker processes with ``workers > 1``). Requests are parsed by
httptools; static files use a validated in-memory cache for small files and ``sendfile``
for big ones.
"""

from __future__ import annotations

from appcore.web._limits import Limits
from appcore.web._site import Site, WebService
from appcore.web._workers import WorkerPool

__all__ = ["Limits", "Site", "WebService", "WorkerPool"]
