"""Options declared once: argv parsing, mapping validation, typer command and help text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from appcore import Option, Options, UsageError, run_cli

pytestmark = pytest.mark.timeout(30)


def positive(value: int) -> int:
    if value <= 0:
        raise ValueError("must be positive")
    return value


SPEC = Options(
    Option("port", int, 8080, "port to listen on", short="p", validate=positive),
    Option("path", Path, Path("site"), "folder to serve"),
    Option("allow", list[str], help="hosts allowed"),
    Option("verbose", bool, help="log every request", short="v"),
    Option("mode", str, "static", "how to serve", choices=("static", "cgi")),
    Option("ratio", float, 0.5, "a fraction"),
    Option("name", str, None, "a name"),
)
DEFAULTS = {
    "port": 8080,
    "path": Path("site"),
    "allow": (),
    "verbose": False,
    "mode": "static",
    "ratio": 0.5,
    "name": None,
}


def test_parse_defaults() -> None:
    assert SPEC.parse([]) == DEFAULTS
    assert SPEC.defaults() == DEFAULTS


def test_parse_every_spelling() -> None:
    values = SPEC.parse(
        ["-p", "81", "--path=/srv/www", "--allow", "a", "--allow=b", "-v", "--mode", "cgi"]
    )
    assert values == DEFAULTS | {
        "port": 81,
        "path": Path("/srv/www"),
        "allow": ("a", "b"),
        "verbose": True,
        "mode": "cgi",
    }
    assert SPEC.parse(["-p82", "--ratio", "2", "--verbose", "--no-verbose"])["port"] == 82
    assert SPEC.parse(["--verbose", "--no-verbose"])["verbose"] is False
    assert SPEC.parse(["--ratio", "2"])["ratio"] == 2.0
    assert SPEC.parse(["--", ]) == DEFAULTS  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "http"], "invalid value for --port: expected an integer, got 'http'"),
        (["--port", "0"], "invalid value for --port: must be positive"),
        (["--mode", "php"], "invalid value for --mode: 'php' is not one of static, cgi"),
        (["--ratio", "half"], "invalid value for --ratio: expected a number, got 'half'"),
        (["--prot", "1"], "unknown option --prot (did you mean --port?)"),
        (["--port"], "option --port needs a value"),
        (["--verbose=yes"], "option --verbose takes no value"),
        (["extra"], "unexpected argument 'extra'"),
        (["--", "extra"], "unexpected argument 'extra'"),
        (["-x"], "unknown option -x"),
    ],
)
def test_parse_errors_are_one_line_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        SPEC.parse(argv)
    assert caught.value.message == message
    assert caught.value.exit_code == 64


def test_validate_mapping_accepts_strings_and_typed_values() -> None:
    assert SPEC.validate({"port": "81", "verbose": "yes", "allow": "one"}) == DEFAULTS | {
        "port": 81,
        "verbose": True,
        "allow": ("one",),
    }
    assert SPEC.validate({"port": 81, "path": Path("x"), "allow": ["a"]})["path"] == Path("x")
    with pytest.raises(UsageError, match="unknown option 'nope'"):
        SPEC.validate({"nope": 1})
    with pytest.raises(UsageError, match="invalid value for --verbose: expected yes or no"):
        SPEC.validate({"verbose": "perhaps"})
    with pytest.raises(UsageError, match="must be positive"):
        SPEC.validate({"port": -1})


def test_required_option() -> None:
    spec = Options(Option("target", str, help="where to forward", required=True))
    with pytest.raises(UsageError, match="missing required option --target"):
        spec.parse([])
    assert spec.parse(["--target", "x:1"]) == {"target": "x:1"}
    assert "[required]" in spec.help_text()


def test_declaration_mistakes_are_caught_early() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Options(Option("port", int, 1, short="p"), Option("path", str, "", short="p"))
    with pytest.raises(ValueError, match="declared twice"):
        Options(Option("help", bool))
    with pytest.raises(ValueError, match="unsupported type"):
        Option("when", dict)
    with pytest.raises(ValueError, match="public identifier"):
        Option("max-clients", int)


def test_help_text_lists_every_option_with_its_default() -> None:
    text = SPEC.help_text("Options for web:")
    lines = text.splitlines()
    assert lines[0] == "Options for web:"
    assert "  -p, --port INTEGER" in text
    assert "port to listen on [default: 8080]" in text
    assert "--path PATH" in text
    assert "folder to serve [default: site]" in text
    assert "--verbose / --no-verbose" in text
    assert "log every request [default: off]" in text
    assert "--mode [static|cgi]" in text
    assert "hosts allowed [default: none]" in text
    assert len(lines) == 1 + len(SPEC)


def make_app(seen: list[dict[str, Any]]) -> typer.Typer:
    app = typer.Typer()
    app.command("web", help="Serve files over HTTP.")(SPEC.typer_command(seen.append))

    @app.callback()
    def main() -> None:
        """A test tool."""

    return app


def run(argv: list[str]) -> tuple[int, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    return run_cli(make_app(seen), argv, prog_name="tool"), seen


def test_typer_command_gives_the_same_values_as_parse() -> None:
    argv = ["-p", "81", "--allow", "a", "--allow", "b", "-v", "--mode", "cgi", "--name", "n"]
    argv += ["--path", "/srv/www", "--ratio", "0.25"]
    code, seen = run(["web", *argv])
    assert code == 0
    assert seen == [SPEC.parse(argv)]
    code, seen = run(["web"])
    assert (code, seen) == (0, [DEFAULTS])


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--port", "http"], "expected an integer, got 'http'"),
        (["--port", "0"], "must be positive"),
        (["--mode", "php"], "'php' is not one of static, cgi"),
        (["--bogus"], "--bogus"),
    ],
)
def test_typer_command_rejects_bad_values_with_exit_64(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, seen = run(["web", *argv])
    assert code == 64
    assert seen == []
    err = capsys.readouterr().err
    assert reason in err
    assert err.startswith("tool: error: ")
    if reason == "--bogus":  # click words it "No such option: X" or "No such option 'X'"
        assert "No such option" in err


def test_typer_command_checks_paths_too(capsys: pytest.CaptureFixture[str]) -> None:
    def inside_srv(path: Path) -> Path:
        if not path.is_absolute():
            raise ValueError("must be absolute")
        return path

    spec = Options(Option("root", Path, None, "root folder", validate=inside_srv))
    seen: list[dict[str, Any]] = []
    app = typer.Typer()
    app.command("web")(spec.typer_command(seen.append))

    @app.callback()
    def main() -> None:
        """A test tool."""

    assert run_cli(app, ["web", "--root", "relative"], prog_name="tool") == 64
    assert "must be absolute" in capsys.readouterr().err
    assert run_cli(app, ["web", "--root", "/srv"], prog_name="tool") == 0
    assert run_cli(app, ["web"], prog_name="tool") == 0
    assert seen == [{"root": Path("/srv")}, {"root": None}]
    with pytest.raises(UsageError, match="must be absolute"):
        spec.parse(["--root", "relative"])


COMPLETION_TOOL = """
import sys, typer
from appcore import Option, Options, run_cli
spec = Options(Option("mode", str, "static", "how", choices=("static", "cgi", "cache")))
app = typer.Typer()
app.command("web")(spec.typer_command(print))
@app.callback()
def main() -> None:
    "A test tool."
sys.exit(run_cli(app, sys.argv[1:], prog_name="tool"))
"""


def test_typer_command_completes_choices() -> None:
    env = dict(
        os.environ, _TOOL_COMPLETE="complete_bash", COMP_WORDS="tool web --mode c", COMP_CWORD="3"
    )
    done = subprocess.run(
        [sys.executable, "-c", COMPLETION_TOOL],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cgi", "cache"]


def test_typer_help_shows_options_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(["web", "--help"])
    assert code == 0
    out = capsys.readouterr().out
    for text in ("Serve files over HTTP.", "--port", "-p", "8080", "--allow", "static|cgi"):
        assert text in out


@settings(max_examples=25, deadline=None)
@given(
    port=st.integers(min_value=-5, max_value=70000),
    mode=st.sampled_from(["static", "cgi", "php"]),
    allow=st.lists(st.text(alphabet="abc.:", min_size=1, max_size=5), max_size=3),
)
def test_both_forms_agree(port: int, mode: str, allow: list[str]) -> None:
    argv = ["--port", str(port), "--mode", mode]
    for host in allow:
        argv += ["--allow", host]
    try:
        expected: dict[str, Any] | None = SPEC.parse(argv)
    except UsageError:
        expected = None
    code, seen = run(["web", *argv])
    if expected is None:
        assert (code, seen) == (64, [])
    else:
        assert (code, seen) == (0, [expected])


BOUNDED = Options(
    Option("timeout", float, 10.0, "seconds to wait", more_than=0),
    Option("delay", float, 1.0, "seconds to pause", at_least=0),
    Option("limit", int, 100, "most at once", at_least=1),
    Option("ratio", float, 0.5, "no bounds declared"),
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout", "nan"], "must be a finite number, not nan"),
        (["--timeout", "inf"], "must be a finite number, not inf"),
        (["--timeout", "-inf"], "must be a finite number, not -inf"),
        (["--timeout", "0"], "must be more than 0, not 0.0"),
        (["--timeout", "-5"], "must be more than 0"),
        (["--delay", "-0.5"], "must be at least 0, not -0.5"),
        (["--limit", "0"], "must be at least 1, not 0"),
        (["--limit", "-1"], "must be at least 1, not -1"),
        (["--ratio", "nan"], "finite"),  # a float is finite whether bounded or not
        (["--ratio", "1e400"], "finite"),
    ],
)
def test_numbers_outside_their_bounds_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        BOUNDED.parse(argv)


def test_bounds_hold_for_mappings_and_typer_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert BOUNDED.parse(["--delay", "0", "--limit", "1"])["delay"] == 0.0
    with pytest.raises(UsageError, match="finite"):
        BOUNDED.validate({"timeout": float("nan")})
    with pytest.raises(UsageError, match="--ratio: int too large to convert to float"):
        BOUNDED.validate({"ratio": 10**400})  # an OverflowError, still a usage error
    app = typer.Typer()
    app.command("run")(BOUNDED.typer_command(lambda values: 0))
    assert run_cli(app, ["--timeout", "nan"], prog_name="prog") == 64
    assert "finite" in capsys.readouterr().err


def test_only_a_number_option_has_bounds() -> None:
    with pytest.raises(ValueError, match="only a number option"):
        Option("name", str, at_least=1)


class _Holder:
    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"timeout": -1.0, "limit": 5}, "timeout must be more than 0"),
        ({"timeout": float("nan"), "limit": 5}, "timeout must be a finite number"),
        ({"timeout": 1.0, "limit": 1.5}, "limit must be an integer"),
        ({"timeout": 1.0, "limit": True}, "limit must be an integer"),
        ({"timeout": "1", "limit": 5}, "timeout must be a number"),
        ({"limit": 5}, "timeout must be a number, not None"),
    ],
)
def test_check_loaded_refuses_what_parse_would(values: dict[str, object], message: str) -> None:
    from appcore import DataError

    with pytest.raises(DataError, match=f"test_options:_Holder: {message}"):
        BOUNDED.check_loaded(_Holder(**values), "timeout", "limit")
    BOUNDED.check_loaded(_Holder(timeout=3, limit=5), "timeout", "limit")  # an int is a number
