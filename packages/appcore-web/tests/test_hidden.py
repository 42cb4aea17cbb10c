"""Hostile files in a served folder: dot names (.git, .env) and links leading out of the root.

None of them is served or listed unless the site allows it; a file saved before the option
existed loads with the safe default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appcore import dumps, loads
from appcore_web import Site
from appcore_web._maker import web

pytestmark = pytest.mark.timeout(30)

HIDDEN_PATHS = [
    b"/.env",
    b"/.git/config",
    b"/%2egit/config",
    b"/%2Eenv",
    b"/docs/.secret",
    b"/docs/./.secret",
    b"/.git/",
    b"/.git",
    b"/visible.txt",  # a link to .env
    b"/gitlink/config",  # a link to .git
]


@pytest.fixture
def hostile(www: Path) -> Path:
    """``www`` with dot files and folders, and links to them and out of the root."""
    (www / ".env").write_bytes(b"PASSWORD=hunter2\n")
    (www / ".git").mkdir()
    (www / ".git" / "config").write_bytes(b"[remote] url = secret\n")
    (www / "docs" / ".secret").write_bytes(b"hidden in docs\n")
    (www / "visible.txt").symlink_to(www / ".env")
    (www / "gitlink").symlink_to(www / ".git")
    (www / "outside.txt").symlink_to(www.parent / "secret.txt")
    (www / "outdir").symlink_to(www.parent)
    (www / "inside.txt").symlink_to(www / "small.txt")
    return www


def fetch(server: Any, tools: Any, path: bytes) -> tuple[int, bytes]:
    with server.connect() as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        status, _, body = tools.read_response(sock)
    return status, body


@pytest.mark.parametrize("path", HIDDEN_PATHS)
def test_hidden_names_are_not_served(serve: Any, hostile: Path, tools: Any, path: bytes) -> None:
    server = serve(Site(str(hostile)))
    status, body = fetch(server, tools, path)
    assert status == 404
    assert b"hunter2" not in body
    assert b"secret" not in body


def test_listing_hides_dot_names_and_links_out(serve: Any, hostile: Path, tools: Any) -> None:
    server = serve(Site(str(hostile)))
    status, body = fetch(server, tools, b"/")
    assert status == 200
    for name in (b".env", b".git", b"visible.txt", b"gitlink", b"outside.txt", b"outdir"):
        assert b">" + name not in body, name
    for name in (b"small.txt", b"inside.txt", b"docs/"):
        assert b">" + name in body, name
    assert fetch(server, tools, b"/inside.txt") == (200, tools.SMALL)


def test_allow_hidden_serves_and_lists_them(serve: Any, hostile: Path, tools: Any) -> None:
    server = serve(Site(str(hostile), allow_hidden=True))
    assert fetch(server, tools, b"/.env") == (200, b"PASSWORD=hunter2\n")
    assert fetch(server, tools, b"/visible.txt") == (200, b"PASSWORD=hunter2\n")
    assert fetch(server, tools, b"/gitlink/config")[0] == 200
    status, body = fetch(server, tools, b"/")
    assert b">.env<" in body
    assert b">.git/<" in body
    assert b">outside.txt<" not in body  # still out of the root
    # Following links out of the root lists them too (they are served then).
    server = serve(Site(str(hostile), follow_symlinks=True))
    status, body = fetch(server, tools, b"/")
    assert b">outside.txt<" in body
    assert b">.env<" not in body


def test_option_and_old_files(hostile: Path) -> None:
    values = web.options.parse(["--path", str(hostile), "--allow-hidden"])
    assert web.make_service(values).site.allow_hidden is True
    values = web.options.parse(["--path", str(hostile)])
    assert web.make_service(values).site.allow_hidden is False
    values = web.options.parse(["--path", str(hostile), "--no-precompressed"])
    assert web.make_service(values).site.precompressed is False
    values = web.options.parse(["--asgi", "m:app", "--ws-max-message", "2000"])
    assert web.make_service(values).site.limits.ws_max_message == 2000
    # A file from before the option (Site version 1) loads refusing hidden names.
    text = dumps(Site(str(hostile)), "source").decode()
    assert 'cls("appcore_web:Site", version=2)' in text
    old = text.replace("version=2", "version=1")
    old = old.replace('"allow_hidden": False, ', "").replace('"precompressed": True, ', "")
    assert "allow_hidden" not in old
    site = loads(old.encode())
    assert isinstance(site, Site)
    assert (site.allow_hidden, site.precompressed) == (False, True)
    assert "allow_hidden" in vars(site)
    # Limits from before WebSocket support get the default message size limit.
    old = old.replace(
        '"shutdown_timeout": 5.0, "ws_max_message": 1048576', '"shutdown_timeout": 5.0'
    )
    assert "ws_max_message" not in old
    site = loads(old.encode())
    assert site.limits.ws_max_message == 1 << 20
