"""Limits and timeouts of the web server type: refused on the command line (64) and in a
file (65) when negative, zero, ``nan`` or infinite, in every format."""

from __future__ import annotations

from pathlib import Path

import pytest

from appcore import Application, DataError, UsageError, dumps, load_application
from appcore_web import Limits
from appcore_web._maker import web

pytestmark = pytest.mark.timeout(30)

EXT = {"pickle": "tap", "xml": "tax", "source": "tas"}


def application(www: Path) -> Application:
    app = Application("site")
    web.make_service(
        web.options.parse(["--path", str(www), "--listen", "tcp:0"])
    ).set_service_parent(app)
    return app


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--max-body", "-1", "must be at least 1, not -1"),
        ("--max-connections", "0", "must be at least 1, not 0"),
        ("--threads", "-3", "must be at least 1"),
        ("--idle-timeout", "nan", "must be a finite number, not nan"),
        ("--request-timeout", "inf", "must be a finite number, not inf"),
        ("--send-timeout", "-inf", "must be a finite number, not -inf"),
        ("--send-timeout", "-2", "must be more than 0, not -2.0"),
    ],
)
def test_bad_limits_are_usage_errors(www: Path, flag: str, value: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        web.options.parse(["--path", str(www), flag, value])


def test_limits_refuse_nan_when_built_in_code() -> None:
    with pytest.raises(UsageError, match="idle_timeout must be a finite number"):
        Limits(idle_timeout=float("nan"))


@pytest.mark.parametrize("fmt", ["pickle", "xml", "source"])
@pytest.mark.parametrize(
    ("where", "name", "value", "reason"),
    [
        ("limits", "max_body", -1, "appcore_web:Limits: max_body must be more than 0, not -1"),
        ("limits", "idle_timeout", float("nan"), "idle_timeout must be a finite number"),
        ("limits", "send_timeout", float("inf"), "send_timeout must be a finite number"),
        ("limits", "max_headers", 2.5, "max_headers must be an integer"),
        ("site", "threads", 0, "appcore_web:Site: threads must be at least 1, not 0"),
        ("service", "workers", -4, "appcore_web:WebService: workers must be at least 1"),
    ],
)
def test_a_file_setting_a_bad_limit_is_refused_at_load(
    www: Path, tmp_path: Path, fmt: str, where: str, name: str, value: object, reason: str
) -> None:
    app = application(www)
    service = app.services[0]
    target = {"limits": service.site.limits, "site": service.site, "service": service}[where]  # type: ignore[attr-defined]
    setattr(target, name, value)
    path = tmp_path / f"site.{EXT[fmt]}"
    path.write_bytes(dumps(app, fmt))  # type: ignore[arg-type]
    with pytest.raises(DataError, match=reason):
        load_application(path)


def test_an_edited_tax_with_a_negative_max_body_is_refused(www: Path, tmp_path: Path) -> None:
    path = tmp_path / "site.tax"
    text = dumps(application(www), "xml").decode()
    edited = text.replace('<int key="max_body">1048576</int>', '<int key="max_body">-1</int>')
    assert edited != text
    path.write_text(edited)
    with pytest.raises(DataError, match="max_body must be more than 0, not -1"):
        load_application(path)
    path.write_text(text)
    assert load_application(path).services[0].site.limits.max_body == 1 << 20  # type: ignore[attr-defined]
