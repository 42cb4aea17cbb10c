"""Fixtures for the network server types' tests: saving a tree in every format."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from appcore import Application, Service, dumps, loads


@pytest.fixture
def round_trip() -> Callable[[Service], list[Application]]:
    """Put ``service`` in an Application and reload it from pickle, TAP, TAX and TAS bytes.

    Works on a running tree too: only configuration is saved, runtime state is skipped.
    """

    def run(service: Service) -> list[Application]:
        app = Application("roundtrip")
        app.services.append(service)  # no set_service_parent: the service may be running
        app.named_services = {s.name: s for s in app.services if s.name is not None}
        copies: list[Any] = [pickle.loads(pickle.dumps(app))]
        for fmt in ("pickle", "xml", "source"):
            copies.append(loads(dumps(app, fmt), fmt))  # type: ignore[arg-type]
        service.parent = None
        for copy in copies:
            assert isinstance(copy, Application)
            assert not copy.running
        return copies

    return run
