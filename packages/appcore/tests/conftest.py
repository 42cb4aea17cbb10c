"""Shared fixtures for appcore's tests, on the public testing helpers (appcore.testing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from appcore.testing import free_port as _free_port
from appcore.testing import run_coroutine, self_signed_certificate


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    return _free_port()


@pytest.fixture
def arun() -> Callable[..., Any]:
    """Run a coroutine on a fresh loop (``loop="asyncio"``), bounded by ``timeout`` seconds."""
    return run_coroutine


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1: ``(cert.pem, key.pem)``."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))
