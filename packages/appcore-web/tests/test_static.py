"""Static files through a real server: http.client and curl as clients."""

from __future__ import annotations

import email.message
import email.parser
import hashlib
import http.client
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from appcore_web import Site

pytestmark = pytest.mark.timeout(30)

CURL = "/usr/bin/curl"


def hdr(response: http.client.HTTPResponse, name: str) -> str:
    """A header that must be present."""
    value = response.getheader(name)
    assert value is not None, name
    return value


def get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_small_file_with_headers(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    response, body = get(server.port, "/small.txt")
    assert response.status == 200
    assert body == tools.SMALL
    assert hdr(response, "Content-Type") == "text/plain; charset=utf-8"
    assert hdr(response, "Content-Length") == str(len(tools.SMALL))
    assert hdr(response, "Server") == "appcore"
    assert hdr(response, "Date").endswith(" GMT")
    assert hdr(response, "ETag").startswith('"')
    assert hdr(response, "Last-Modified").endswith(" GMT")
    assert hdr(response, "Accept-Ranges") == "bytes"
    json_response, _ = get(server.port, "/data.json")
    assert hdr(json_response, "Content-Type").startswith("application/json")


def test_big_file_by_sendfile(serve: Any, www: Path, tools: Any, loop_name: str) -> None:
    server = serve(Site(str(www)), loop=loop_name)
    response, body = get(server.port, "/big.bin")
    assert response.status == 200
    assert len(body) == tools.BIG_SIZE
    expected = hashlib.sha256((www / "big.bin").read_bytes()).hexdigest()
    assert hashlib.sha256(body).hexdigest() == expected
    # A range of the big file comes from the right offset.
    response, body = get(server.port, "/big.bin", {"Range": "bytes=1000000-1000099"})
    assert response.status == 206
    assert body == (www / "big.bin").read_bytes()[1000000:1000100]


def test_head_has_headers_and_no_body(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    for path in ("/small.txt", "/big.bin"):
        response, body = get(server.port, path, method="HEAD")
        assert response.status == 200
        assert body == b""
        assert int(hdr(response, "Content-Length")) == (www / path[1:]).stat().st_size


def test_index_redirect_listing_and_missing(serve: Any, www: Path) -> None:
    server = serve(Site(str(www)))
    response, body = get(server.port, "/docs/")
    assert (response.status, body) == (200, b"<h1>docs index</h1>\n")
    response, _ = get(server.port, "/docs?x=1")
    assert response.status == 301
    assert hdr(response, "Location") == "/docs/?x=1"
    response, body = get(server.port, "/plain/")
    assert response.status == 200
    assert b"&lt;b&gt;&amp;&quot;odd.txt" in body
    assert b'href="%3Cb%3E%26%22odd.txt"' in body
    assert b"<b>" not in body
    assert b'href="space%20name.txt"' in body
    response, body = get(server.port, "/plain/space%20name.txt")
    assert (response.status, body) == (200, b"space\n")
    response, _ = get(server.port, "/nothing-here.txt")
    assert response.status == 404
    response, _ = get(server.port, "/small.txt/")
    assert response.status == 404


def test_no_listing(serve: Any, www: Path) -> None:
    server = serve(Site(str(www), listing=False))
    response, _ = get(server.port, "/plain/")
    assert response.status == 404
    response, _ = get(server.port, "/docs/")
    assert response.status == 200


def test_methods(serve: Any, www: Path) -> None:
    server = serve(Site(str(www)))
    response, _ = get(server.port, "/small.txt", method="DELETE")
    assert response.status == 405
    assert hdr(response, "Allow") == "GET, HEAD, OPTIONS"
    response, _ = get(server.port, "/small.txt", method="OPTIONS")
    assert response.status == 204


def test_conditional_requests(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    first, _ = get(server.port, "/small.txt")
    etag, modified = hdr(first, "ETag"), hdr(first, "Last-Modified")
    response, body = get(server.port, "/small.txt", {"If-None-Match": etag})
    assert (response.status, body) == (304, b"")
    assert hdr(response, "ETag") == etag
    response, _ = get(server.port, "/small.txt", {"If-None-Match": f'"nope", W/{etag}'})
    assert response.status == 304
    response, body = get(server.port, "/small.txt", {"If-None-Match": '"other"'})
    assert (response.status, body) == (200, tools.SMALL)
    response, _ = get(server.port, "/small.txt", {"If-Modified-Since": modified})
    assert response.status == 304
    response, _ = get(
        server.port, "/small.txt", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}
    )
    assert response.status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    response, _ = get(
        server.port, "/small.txt", {"If-None-Match": '"other"', "If-Modified-Since": modified}
    )
    assert response.status == 200


def test_ranges(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    data = tools.SMALL
    size = len(data)
    response, body = get(server.port, "/small.txt", {"Range": "bytes=0-4"})
    assert (response.status, body) == (206, data[:5])
    assert hdr(response, "Content-Range") == f"bytes 0-4/{size}"
    response, body = get(server.port, "/small.txt", {"Range": "bytes=-3"})
    assert (response.status, body) == (206, data[-3:])
    response, body = get(server.port, "/small.txt", {"Range": "bytes=6-"})
    assert (response.status, body) == (206, data[6:])
    response, body = get(server.port, "/small.txt", {"Range": "bytes=1000-2000"})
    assert response.status == 416
    assert hdr(response, "Content-Range") == f"bytes */{size}"
    response, body = get(server.port, "/small.txt", {"Range": "lines=1-2"})
    assert (response.status, body) == (200, data)
    response, body = get(server.port, "/small.txt", {"Range": "bytes=0-1", "If-Range": '"old"'})
    assert (response.status, body) == (200, data)


@pytest.mark.parametrize("name", ["small.txt", "big.bin"])
def test_multiple_ranges(serve: Any, www: Path, name: str) -> None:
    server = serve(Site(str(www)))
    data = (www / name).read_bytes()
    response, body = get(server.port, "/" + name, {"Range": "bytes=0-2,5-7,-2"})
    assert response.status == 206
    ctype = hdr(response, "Content-Type")
    assert ctype.startswith("multipart/byteranges; boundary=")
    assert int(hdr(response, "Content-Length")) == len(body)
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
    )
    parts = message.get_payload()
    assert isinstance(parts, list)
    got = []
    for part in parts:
        assert isinstance(part, email.message.Message)
        got.append((str(part["Content-Range"]), part.get_payload(decode=True)))
    size = len(data)
    assert got == [
        (f"bytes 0-2/{size}", data[0:3]),
        (f"bytes 5-7/{size}", data[5:8]),
        (f"bytes {size - 2}-{size - 1}/{size}", data[-2:]),
    ]


def test_changed_file_is_served_fresh(serve: Any, www: Path) -> None:
    server = serve(Site(str(www)))
    target = www / "page.html"
    assert get(server.port, "/page.html")[1] == b"<p>page</p>\n"
    target.write_bytes(b"<p>PAGE</p>\n")  # same size: the mtime and inode tell
    later = time.time() + 5
    os.utime(target, (later, later))
    assert get(server.port, "/page.html")[1] == b"<p>PAGE</p>\n"
    target.unlink()
    assert get(server.port, "/page.html")[0].status == 404


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CURL, "-sS", *args], capture_output=True, timeout=20, check=False)


@pytest.mark.skipif(not os.path.exists(CURL), reason="curl is not installed")
def test_curl(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    done = curl(server.url + "/small.txt", server.url + "/big.bin", "-o", "/dev/null", "-o", "-")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (www / "big.bin").read_bytes()
    done = curl("-r", "2-5", server.url + "/small.txt")
    assert done.stdout == tools.SMALL[2:6]
    done = curl("-I", server.url + "/small.txt")
    assert done.stdout.startswith(b"HTTP/1.1 200 OK")
    done = curl("--http1.0", "-D", "-", server.url + "/small.txt")
    assert b"Connection: close" in done.stdout or b"HTTP/1.1 200" in done.stdout
    assert done.stdout.endswith(tools.SMALL)
    done = curl("-o", "/dev/null", "-w", "%{http_code}", server.url + "/docs")
    assert done.stdout == b"301"
    done = curl("-L", server.url + "/docs")
    assert done.stdout == b"<h1>docs index</h1>\n"
    done = curl("--path-as-is", server.url + "/../secret.txt")
    assert b"TOP SECRET" not in done.stdout
