"""Directory listings: a plain HTML page whose every name is escaped."""

from __future__ import annotations

import html
import os
from urllib.parse import quote


def render_listing(folder: str | bytes, url_path: str) -> bytes:
    """The HTML page listing ``folder``; ``url_path`` is the decoded path it was asked by.

    Names are escaped for HTML and percent-encoded in links, so a file called
    ``<script>`` or ``a"b`` is shown as text and still linked correctly.
    """
    rows: list[tuple[bool, bytes]] = []
    with os.scandir(os.fsencode(folder)) as entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            rows.append((not is_dir, entry.name))
    rows.sort()
    title = html.escape(url_path)
    lines = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>Index of {title}</title></head>",
        f"<body><h1>Index of {title}</h1><ul>",
    ]
    if url_path != "/":
        lines.append('<li><a href="../">../</a></li>')
    for is_file, raw in rows:
        slash = "" if is_file else "/"
        href = quote(raw) + slash
        text = html.escape(os.fsdecode(raw).encode("utf-8", "replace").decode("utf-8")) + slash
        lines.append(f'<li><a href="{href}">{text}</a></li>')
    lines.append("</ul></body></html>\n")
    return "\n".join(lines).encode("utf-8", "replace")
