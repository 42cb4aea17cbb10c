"""What caches get: validators on listings, precompressed siblings with Vary."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import Any

import pytest

from appcore_web import Site
from appcore_web._entries import accepted_codings

pytestmark = pytest.mark.timeout(30)

TEXT = b"some text that compresses well " * 200


def fetch(
    server: Any, tools: Any, path: bytes, *headers: bytes
) -> tuple[int, dict[str, str], bytes]:
    lines = b"".join(h + b"\r\n" for h in headers)
    with server.connect() as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n" + lines + b"\r\n")
        status, found, body = tools.read_response(sock)
    return int(status), found, body


def test_listing_has_validators(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    status, headers, body = fetch(server, tools, b"/plain/")
    assert status == 200
    etag, modified = headers["etag"], headers["last-modified"]
    assert etag.startswith('"')
    assert modified.endswith(" GMT")
    assert headers["cache-control"] == "no-cache"
    status, headers, body = fetch(server, tools, b"/plain/", b"If-None-Match: " + etag.encode())
    assert (status, body) == (304, b"")
    assert headers["etag"] == etag
    status, _, _ = fetch(server, tools, b"/plain/", b"If-Modified-Since: " + modified.encode())
    assert status == 304
    status, _, _ = fetch(server, tools, b"/plain/", b'If-Match: "other"')
    assert status == 412
    # A new entry makes a new listing with a new tag.
    (www / "plain" / "new.txt").write_bytes(b"new\n")
    status, headers, body = fetch(server, tools, b"/plain/", b"If-None-Match: " + etag.encode())
    assert status == 200
    assert headers["etag"] != etag
    assert b"new.txt" in body


@pytest.fixture
def compressed(www: Path) -> Path:
    """``text.txt`` with ``.gz`` and ``.br`` siblings (the br one is fake but distinct)."""
    (www / "text.txt").write_bytes(TEXT)
    (www / "text.txt.gz").write_bytes(gzip.compress(TEXT))
    (www / "text.txt.br").write_bytes(b"pretend brotli")
    big = os.urandom(3 * 1024 * 1024)
    (www / "big.bin.gz").write_bytes(gzip.compress(big, compresslevel=1))
    (www / "big.bin").write_bytes(big)
    old = time.time() - 100
    os.utime(www / "big.bin", (old, old))  # the sibling is newer: it is used
    return www


def test_precompressed_siblings(serve: Any, compressed: Path, tools: Any) -> None:
    server = serve(Site(str(compressed)))
    status, headers, body = fetch(server, tools, b"/text.txt", b"Accept-Encoding: gzip, br")
    assert (status, body) == (200, b"pretend brotli")
    assert headers["content-encoding"] == "br"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["vary"] == "Accept-Encoding"
    br_tag = headers["etag"]
    status, headers, body = fetch(server, tools, b"/text.txt", b"Accept-Encoding: gzip")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == TEXT
    gz_tag = headers["etag"]
    status, headers, body = fetch(server, tools, b"/text.txt", b"Accept-Encoding: br;q=0, gzip")
    assert headers["content-encoding"] == "gzip"
    # No Accept-Encoding (or identity only): the file itself, still saying Vary.
    for extra in ((), (b"Accept-Encoding: identity",)):
        status, headers, body = fetch(server, tools, b"/text.txt", *extra)
        assert (status, body) == (200, TEXT)
        assert "content-encoding" not in headers
        assert headers["vary"] == "Accept-Encoding"
        assert headers["etag"] not in (br_tag, gz_tag)
    # Validators are per coding; a 304 repeats Vary.
    status, headers, _ = fetch(
        server, tools, b"/text.txt", b"Accept-Encoding: gzip", b"If-None-Match: " + gz_tag.encode()
    )
    assert (status, headers["vary"]) == (304, "Accept-Encoding")
    status, _, _ = fetch(
        server, tools, b"/text.txt", b"Accept-Encoding: br", b"If-None-Match: " + gz_tag.encode()
    )
    assert status == 200
    # A range is of the coded bytes.
    status, headers, body = fetch(
        server, tools, b"/text.txt", b"Accept-Encoding: br", b"Range: bytes=0-6"
    )
    assert (status, body) == (206, b"pretend")
    # A big sibling goes by sendfile like any big file.
    status, headers, body = fetch(server, tools, b"/big.bin", b"Accept-Encoding: gzip")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (compressed / "big.bin").read_bytes()
    # A file without siblings does not vary.
    status, headers, _ = fetch(server, tools, b"/small.txt", b"Accept-Encoding: gzip")
    assert "vary" not in headers
    assert "content-encoding" not in headers


def test_stale_or_refused_siblings(serve: Any, compressed: Path, tools: Any) -> None:
    later = time.time() + 100
    os.utime(compressed / "text.txt", (later, later))  # edited after it was compressed
    server = serve(Site(str(compressed)))
    status, headers, body = fetch(server, tools, b"/text.txt", b"Accept-Encoding: gzip, br")
    assert (status, body) == (200, TEXT)
    assert "vary" not in headers
    server = serve(Site(str(compressed), precompressed=False))
    status, headers, body = fetch(server, tools, b"/big.bin", b"Accept-Encoding: gzip")
    assert len(body) == 3 * 1024 * 1024
    assert "content-encoding" not in headers


def test_accept_encoding_parsing() -> None:
    assert accepted_codings(b"gzip, deflate, br") == {b"gzip", b"deflate", b"br"}
    assert accepted_codings(b"*") == {b"gzip", b"br"}
    assert accepted_codings(b"*;q=0.5, br;q=0") == {b"gzip"}
    assert accepted_codings(b"GZIP;Q=0.1") == {b"gzip"}
    assert accepted_codings(b"gzip;q=0, br;q=nonsense") == frozenset()
    assert accepted_codings(b"") == frozenset()
