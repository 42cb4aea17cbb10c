"""``python -m tapconvert``."""

from __future__ import annotations

from ._cli import console_main

console_main()
