"""The persisted Site, the web ServiceMaker, the access log and --workers."""

from __future__ import annotations

import http.client
import os
import pickle
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from appcore import NoInputError, UsageError
from appcore_web import Limits, Site, WebService, WorkerPool
from appcore_web._maker import web

pytestmark = pytest.mark.timeout(30)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_site_pickles_configuration_only(serve: Any, www: Path, tmp_path: Path) -> None:
    site = Site(str(www), index_names=["page.html"], listing=False, access_log=str(tmp_path / "a"))
    server = serve(site)
    assert get(server.port, "/")[1] == b"<p>page</p>\n"
    assert site._runtime is not None
    copy = pickle.loads(pickle.dumps(site))
    assert "_runtime" not in copy.__dict__
    assert (copy.root, copy.index_names, copy.listing) == (str(www), ("page.html",), False)
    assert copy.access_log == str(tmp_path / "a")
    assert isinstance(copy.limits, Limits)
    # The loaded copy builds its runtime lazily and serves.
    again = serve(copy)
    assert get(again.port, "/")[1] == b"<p>page</p>\n"


def test_site_argument_errors(www: Path) -> None:
    with pytest.raises(NoInputError):
        Site(str(www / "nope"))
    with pytest.raises(UsageError):
        Site(str(www), index_names=["../x"])
    with pytest.raises(UsageError):
        Limits(max_body=0)
    with pytest.raises(UsageError):
        Limits(bogus=1)
    with pytest.raises(UsageError):
        WebService(Site(str(www)), [])


def test_service_maker(www: Path, tmp_path: Path) -> None:
    assert web.tapname == "web"
    values = web.options.parse(
        [
            "--path",
            str(www),
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--port",
            "8081",
            "--index",
            "a.html, b.html",
            "--no-listing",
            "--logfile",
            str(tmp_path / "access.log"),
            "--max-body",
            "5000",
            "--idle-timeout",
            "3",
        ]
    )
    service = web.make_service(values)
    assert isinstance(service, WebService)
    assert [str(s.endpoint) for s in service] == ["tcp:0:interface=127.0.0.1", "tcp:8081"]  # type: ignore[attr-defined]
    site = service.site
    assert site.index_names == ("a.html", "b.html")
    assert site.listing is False
    assert site.limits.max_body == 5000
    assert site.limits.idle_timeout == 3.0
    assert all(s.factory is site for s in service)  # type: ignore[attr-defined]
    with pytest.raises(UsageError):
        web.options.parse(["--wsgi", "nocolon"])
    with pytest.raises(UsageError):
        web.options.parse(["--workers", "0"])
    pool = web.make_service(web.options.parse(["--path", str(www), "--workers", "3"]))
    assert isinstance(pool, WebService)
    assert isinstance(pool.services[0], WorkerPool)
    restored = pickle.loads(pickle.dumps(service))
    assert next(iter(restored)).factory is restored.site  # sharing survives persistence


def test_access_log_combined_format(serve: Any, www: Path, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    server = serve(Site(str(www), access_log=str(log)))
    get(server.port, '/small.txt?x="y"', {"User-Agent": 'agent "007"', "Referer": "http://r/"})
    get(server.port, "/missing")
    server.stop()
    lines = log.read_text().splitlines()
    pattern = re.compile(
        r"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET (\S+) HTTP/1\.1" (\d{3}) (\d+|-) "([^"]*)" "((?:[^"\\]|\\.)*)"$'
    )
    first, second = (pattern.match(line) for line in lines)
    assert first is not None, lines
    assert second is not None, lines
    assert first.group(1) == "/small.txt?x=\\x22y\\x22"
    assert first.group(2, 3, 4) == ("200", "20", "http://r/")
    assert first.group(5) == "agent \\x22007\\x22"
    assert second.group(2) == "404"


def _wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError("condition not reached")


def _answers(port: int) -> bool:
    try:
        return get(port, "/small.txt")[0] == 200
    except OSError:
        return False


@pytest.mark.timeout(60)
def test_workers_are_restarted(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits()), workers=2)
    pool = server.service.services[0]
    pids = _wait_for(lambda: len(pool.worker_pids()) == 2 and pool.worker_pids())
    _wait_for(lambda: _answers(server.port))
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: victim not in pool.worker_pids() and len(pool.worker_pids()) == 2)
    assert victim not in pool.worker_pids()
    for _ in range(20):  # connections spread over both sockets all get answered
        assert get(server.port, "/small.txt") == (200, tools.SMALL)
    current = pool.worker_pids()
    server.stop()
    for pid in current + pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
