"""Fixtures for this server type's tests, on appcore's public testing helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from appcore import Application, Service
from appcore.testing import free_port as _free_port
from appcore.testing import round_trip as _round_trip
from appcore.testing import run_coroutine, self_signed_certificate


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port()


@pytest.fixture
def arun() -> Callable[..., Any]:
    """Run a coroutine on a fresh loop (``loop="asyncio"``), bounded by ``timeout`` seconds."""
    return run_coroutine


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1: ``(cert.pem, key.pem)``."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def round_trip() -> Callable[[Service], list[Application]]:
    """Put a service in an Application and reload it from pickle, TAP, TAX and TAS."""
    return _round_trip
