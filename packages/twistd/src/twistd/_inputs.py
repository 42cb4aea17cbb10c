"""Where the application comes from, and where its shutdown file goes.

``-f``/``-x``/``-s`` load a saved application (``-e``: encrypted); ``-y`` runs a Python file
that defines ``application``; a server type name makes a fresh one from its options. Only a
loaded file is saved back on shutdown: a ``-y`` file or a server type's options are already
the source of truth, and a saved copy would silently go stale.

The shutdown file is ``NAME-shutdown.EXT``, in the loaded file's format (encrypted again
with the same passphrase), **next to the input file**, so it sits beside what it replaces
whatever the run directory. When that folder is not writable (the daemon dropped root, say)
it goes to the run directory instead.

Files twistd writes (the shutdown file, the pid file, the log file) are never more readable
than the file the application came from (``-f``/``-x``/``-s``/``-y``): :attr:`max_mode`
holds its permission bits, and each writer caps its file's mode with them, whatever the
umask.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from appcore import AppcoreError, DataError, NoInputError, UsageError

from ._config import RunConfig

if TYPE_CHECKING:
    from appcore import Application

log = logging.getLogger("appcore.twistd")

Format = Literal["pickle", "xml", "source"]
_FORMATS: dict[str, Format] = {"file": "pickle", "xml": "xml", "source": "source"}


class LoadedApplication:
    """An application ready to run, and what is needed to save it back."""

    def __init__(
        self,
        application: Application,
        path: Path | None = None,
        format: Format | None = None,
        passphrase: str | None = None,
        max_mode: int | None = None,
    ) -> None:
        self.application = application
        self.path = path  # the input file, when the application was loaded from one
        self.format = format
        self.passphrase = passphrase
        # The input file's permission bits (-f/-x/-s/-y): no output may be more readable.
        self.max_mode = max_mode

    def save_shutdown(self, run_dir: Path) -> Path | None:
        """Save ``NAME-shutdown.EXT`` next to the input file, else in the run directory."""
        if self.path is None or self.format is None:
            return None
        from appcore import SHUTDOWN_TAG, CantCreateError, PermissionDenied, save_application

        # The run directory is the current one: reached as ".", it stays writable after a
        # uid switch even when a parent folder of its path is closed to the new user.
        targets = [(self.path.parent, self.path.parent), (Path(os.curdir), run_dir)]
        problem: AppcoreError | None = None
        for directory, shown in targets:
            try:
                with _collector_paused():
                    saved: Path = save_application(
                        self.application,
                        format=self.format,
                        tag=SHUTDOWN_TAG,
                        passphrase=self.passphrase,
                        directory=directory,
                        max_mode=self.max_mode,
                    )
                return shown / saved.name
            except (CantCreateError, PermissionDenied) as err:
                log.warning("cannot save the shutdown file in %s: %s", shown, err.message)
                problem = problem or err
        assert problem is not None
        raise problem


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading or saving a large tree allocates no garbage cycles worth collecting, but
    triggers many full collections that each walk the whole tree."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def obtain_application(config: RunConfig, launch_dir: Path) -> LoadedApplication:
    """The application ``config`` names; one-line errors for every way that can fail."""
    if config.input_kind == "plugin":
        return LoadedApplication(_from_plugin(config.input, config.plugin_args))
    path = launch_dir / config.input
    if config.input_kind == "python":
        return LoadedApplication(_from_python(path), max_mode=_permission_bits(path))
    from appcore import load_application

    fmt = _FORMATS[config.input_kind]
    passphrase = _passphrase(config, launch_dir) if config.encrypted else None
    with _collector_paused():
        app = load_application(path, format=fmt, passphrase=passphrase)
    # What was loaded lives until exit: keep the collector from walking it over and over
    # (and from touching its pages, which a fork would otherwise have to copy).
    gc.freeze()
    return LoadedApplication(
        _check(app, str(path)), path.resolve(), fmt, passphrase, _permission_bits(path)
    )


def _permission_bits(path: Path) -> int | None:
    """The permission bits of the file just read; None when it cannot be told."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return None


def _passphrase(config: RunConfig, launch_dir: Path) -> str:
    if config.passphrase_file is not None:
        where = launch_dir / config.passphrase_file
        try:
            with open(where, encoding="utf-8") as handle:
                first = handle.readline()
        except FileNotFoundError:
            raise NoInputError(f"passphrase file {where}: no such file") from None
        except OSError as err:
            raise NoInputError(f"passphrase file {where}: {err.strerror}") from None
        passphrase = first.rstrip("\r\n")
        if not passphrase:
            raise DataError(f"passphrase file {where}: the first line is empty")
        return passphrase
    if not sys.stdin.isatty():
        raise UsageError("-e needs a passphrase: give --passphrase-file or run on a terminal")
    import getpass

    return getpass.getpass("Passphrase: ")


def _from_python(path: Path) -> Application:
    """Run ``path`` in a fresh namespace and take its ``application`` variable."""
    try:
        code_text = path.read_bytes()
    except FileNotFoundError:
        raise NoInputError(f"{path}: no such file") from None
    except OSError as err:
        raise NoInputError(f"{path}: {err.strerror}") from None
    namespace: dict[str, Any] = {"__name__": "__twistd_python__", "__file__": str(path)}
    try:
        code = compile(code_text, str(path), "exec")
        exec(code, namespace)
    except AppcoreError:
        raise
    except SyntaxError as err:
        raise DataError(f"{path}, line {err.lineno}: syntax error: {err.msg}") from None
    except Exception as err:
        line = _failing_line(err, str(path))
        raise DataError(f"{path}{line}: {type(err).__name__}: {err}") from err
    if "application" not in namespace:
        raise DataError(f"{path} defines no variable named 'application'")
    return _check(namespace["application"], str(path))


def _failing_line(err: BaseException, filename: str) -> str:
    tb = err.__traceback__
    line = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = f", line {tb.tb_lineno}"
        tb = tb.tb_next
    return line


def _check(value: object, where: str) -> Application:
    from appcore import Application

    if not isinstance(value, Application):
        raise DataError(f"{where}: 'application' is a {type(value).__name__}, not an Application")
    return value


def _from_plugin(name: str, args: list[str]) -> Application:
    from appcore import Application, get_service_maker

    maker = get_service_maker(name)
    try:
        values = maker.options.parse(args)
    except UsageError as err:
        raise UsageError(f"{name}: {err.message}") from None
    service = maker.make_service(values)
    if isinstance(service, Application):
        return service
    app = Application(name)
    service.set_service_parent(app)
    return app


def plugin_help(name: str) -> str:
    """``twistd NAME --help``: the server type's description and options."""
    from appcore import get_service_maker

    maker = get_service_maker(name)
    title = f"Usage: twistd [OPTIONS] {name} [{name.upper()} OPTIONS]\n\n{maker.description}\n"
    return maker.options.help_text(title)
