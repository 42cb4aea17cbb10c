"""One twistd run, start to finish.

The order matters and is the point of this module:

1. in the starting process, where errors still reach the terminal: obtain the application
   (load a file, run a ``-y`` file, or ask a server type), look up users and groups, change
   to the run directory, connect to systemd's notify socket;
2. daemonize (unless ``-n``): from here on the verdict travels through the readiness pipe;
3. take the pid file (it must hold the daemon's pid), set up logging (a daemon's stdout,
   stderr, warnings and thread exceptions go to the log too), chroot;
4. on the event loop: privileged start (bind ports as root), drop privileges, start every
   service and await it, then tell the parent and systemd we are ready. A daemon whose
   starting process dies before it saw that verdict stops (see :mod:`._daemon`);
5. on SIGTERM or SIGINT: STOPPING=1, stop every service (awaited), save the shutdown file
   atomically, release the pid file. A second signal cuts short the wait for the services
   to stop, never the save: the application is saved as it stands, and only SIGKILL can
   prevent that (the temporary file it then leaves is removed by the next save).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appcore import AppcoreError, ExitCode, NoInputError, UsageError

from ._config import RunConfig
from ._daemon import Readiness, daemonize
from ._inputs import LoadedApplication, obtain_application
from ._notify import Notifier
from ._pidfile import PidFile
from ._privileges import Identity, drop_privileges, enter_chroot, resolve_identity

if TYPE_CHECKING:
    import asyncio

    from appcore import Application

    from ._stdio import StdioToLog

log = logging.getLogger("appcore.twistd")

#: Exit status after a second stop signal cut short the wait for services to stop (128 +
#: SIGTERM, as a shell reports a process killed by that signal); the save was still made.
FORCED_EXIT = 128 + signal.SIGTERM
#: How long services that were told to give up stopping (cancelled) get to unwind.
_UNWIND_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
REOPEN_SIGNALS = (signal.SIGHUP, signal.SIGUSR1)


def run(config: RunConfig) -> int:
    """Run the application ``config`` describes until it is told to stop; the exit code."""
    if config.input_kind == "plugin" and {"-h", "--help"} & set(config.plugin_args):
        from ._inputs import plugin_help

        sys.stdout.write(plugin_help(config.input))
        return 0
    launch_dir = Path.cwd()
    loaded = obtain_application(config, launch_dir)
    app = loaded.application
    # The Application's uid/gid say what root should become; a user starting twistd is
    # already who it runs as (an application file made by someone else must still run).
    as_root = os.geteuid() == 0
    identity = resolve_identity(
        config.uid,
        config.gid,
        default_uid=app.uid if as_root else None,
        default_gid=app.gid if as_root else None,
    )
    rundir = _enter_rundir(launch_dir, config.rundir)
    notifier = Notifier()
    daemon = Daemon(config, loaded, identity, rundir, notifier)
    return daemon.run()


def _enter_rundir(launch_dir: Path, rundir: str) -> Path:
    path = (launch_dir / rundir).resolve()
    try:
        os.chdir(path)
    except FileNotFoundError:
        raise NoInputError(f"run directory {path}: no such directory") from None
    except NotADirectoryError:
        raise UsageError(f"run directory {path}: not a directory") from None
    except PermissionError:
        raise NoInputError(f"run directory {path}: permission denied") from None
    return path


class Daemon:
    """The running process: pid file, logging, the loop, and the orderly shutdown."""

    def __init__(
        self,
        config: RunConfig,
        loaded: LoadedApplication,
        identity: Identity,
        rundir: Path,
        notifier: Notifier,
    ) -> None:
        self.config = config
        self.loaded = loaded
        self.identity = identity
        self.rundir = rundir
        self.notifier = notifier
        self.readiness = Readiness()
        self.pidfile: PidFile | None = None
        self.logfile = self._logfile_path()
        self._starting = True
        self._logging_started = False
        self._stdio: StdioToLog | None = None
        self._cut_short: asyncio.Future[signal.Signals] | None = None
        self._signals_while_saving: list[int] = []

    @property
    def application(self) -> Application:
        return self.loaded.application

    def _logfile_path(self) -> Path | None:
        """Where log lines go: None means stdout."""
        config = self.config
        if config.syslog:
            return None
        if config.logfile is None:
            return None if config.nodaemon else self.rundir / "twistd.log"
        if config.logfile == "-":
            return None
        return self.rundir / config.logfile  # absolute paths stay absolute

    def run(self) -> int:
        config = self.config
        if not config.nodaemon:
            handed_over = os.environ.get("LISTEN_PID") == str(os.getpid())
            umask = config.umask if config.umask is not None else 0o077
            self.readiness = daemonize(
                prog_name="twistd", log_hint=str(self.logfile or "the log"), umask=umask
            )
            if handed_over:
                # Sockets passed to the starting process now belong to the daemon.
                os.environ["LISTEN_PID"] = str(os.getpid())
        elif config.umask is not None:
            os.umask(config.umask)
        try:
            loop = self._prepare()
            code = self._run_loop(loop)
        except AppcoreError as err:
            # main() prints the error too; as a daemon that line goes to /dev/null, and the
            # readiness pipe (or the log) is what reaches a human.
            self._fail(err.exit_code, err.message)
            raise
        except Exception as err:
            if self._logging_started:
                log.exception("internal error")
            self._fail(ExitCode.SOFTWARE, f"internal error: {type(err).__name__}: {err}")
            raise
        finally:
            self._release_pidfile()
            if self._stdio is not None:
                self._stdio.stop()
        return code

    def _fail(self, exit_code: int, message: str) -> None:
        if self._logging_started:
            log.error("%s: %s", "start-up failed" if self._starting else "failed", message)
        # The pid file goes before the verdict: the starting process exits on the verdict,
        # and whoever ran it may look for the pid file at once.
        self._release_pidfile()
        self.readiness.failed(int(exit_code), message)

    def _prepare(self) -> asyncio.AbstractEventLoop:
        config = self.config
        max_mode = self.loaded.max_mode
        if config.pidfile:
            self.pidfile = PidFile(self.rundir / config.pidfile, max_mode=max_mode)
            self.pidfile.acquire()
        from ._logging import start_logging

        start_logging(config, self.logfile, max_mode=max_mode)
        self._logging_started = True
        if not config.nodaemon:
            from ._stdio import StdioToLog

            self._stdio = StdioToLog()
            self._stdio.start()
        from appcore import new_event_loop

        loop = new_event_loop(config.reactor)
        if config.chroot is not None:
            try:
                self._preload()
                enter_chroot(config.chroot)
            except BaseException:
                loop.close()
                raise
        return loop

    def _preload(self) -> None:
        """Import now what this run needs later: inside a chroot, imports may not resolve."""
        import encodings.idna  # noqa: F401 - host names are encoded with it when binding

        import appcore

        from . import _logging  # noqa: F401 - reopen on SIGHUP

        names = ["start_application", "stop_application"]
        if self.config.saves_on_shutdown:
            names.append("save_application")
        for name in names:
            getattr(appcore, name)
        if self.config.profile:
            from . import _profile  # noqa: F401

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> int:
        try:
            if self.config.profile:
                from ._profile import profiled

                code: int = profiled(
                    self.config.profiler,
                    self.rundir / self.config.profile,
                    lambda: loop.run_until_complete(self._serve()),
                )
            else:
                code = loop.run_until_complete(self._serve())
        finally:
            loop.close()
            # Closing the loop gave the stop signals back to their default (death); the
            # process is only exiting now, but an orderly exit still removes the pid file.
            # (Between the two, a signal would kill it: after the save, never during.)
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._note_signal)
        return code

    async def _serve(self) -> int:
        import asyncio

        from appcore import start_application

        from ._logging import reopen_log_files

        loop = asyncio.get_running_loop()
        stop: asyncio.Future[signal.Signals] = loop.create_future()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, _resolve, stop, sig)
        for sig in REOPEN_SIGNALS:
            loop.add_signal_handler(sig, reopen_log_files)
        lifeline = self.readiness.lifeline
        if lifeline is not None:
            loop.add_reader(lifeline, self._launcher_news, lifeline, stop)
        app = self.application
        try:
            await start_application(app, drop_privileges=self._drop_privileges)
        except BaseException:
            await self._stop_after_failed_start(app)
            raise
        self._starting = False
        # Logged first: whoever waits for readiness may look for this line at once.
        log.info(
            "%s started (pid %d) on the %s loop", app.app_name, os.getpid(), self.config.reactor
        )
        self.readiness.succeeded()
        self.notifier.ready(f"serving {app.app_name}")
        received = await stop
        # The same signals now cut short the wait below (a handler replaced in place: the
        # signal is never left at its default, which would kill the process).
        self._cut_short = loop.create_future()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stop_cut_short, sig)
        self.notifier.stopping()
        log.info("stopping on %s", received.name)
        await self._stop_services(app)
        # The save runs without the loop: plain handlers, so a signal is only noted.
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._note_signal)
        self._save_shutdown_file()
        if self._signals_while_saving:
            names = ", ".join(signal.Signals(n).name for n in self._signals_while_saving)
            log.warning("ignored during the shutdown save: %s", names)
        log.info("%s stopped", app.app_name)
        return FORCED_EXIT if self._cut_short.done() else 0

    async def _stop_services(self, app: Application) -> None:
        """Stop every service and wait, unless a second stop signal cuts the wait short."""
        import asyncio

        from appcore import stop_application

        assert self._cut_short is not None
        stopping = asyncio.ensure_future(stop_application(app))
        either: set[asyncio.Future[Any]] = {stopping, self._cut_short}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            stopping.result()  # a failing stop is reported as before
            return
        second = self._cut_short.result()
        log.warning(
            "second %s: not waiting for the services to stop; saving the application as it stands",
            second.name,
        )
        stopping.cancel()
        await asyncio.wait({stopping}, timeout=_UNWIND_SECONDS)

    def _stop_cut_short(self, sig: signal.Signals) -> None:
        if self._cut_short is not None and not self._cut_short.done():
            self._cut_short.set_result(sig)

    def _note_signal(self, signum: int, frame: Any) -> None:
        # Runs between two bytecodes of whatever runs (the save): logging here could
        # re-enter a log handler that is halfway through writing a record.
        self._signals_while_saving.append(signum)

    def _launcher_news(self, fd: int, stop: asyncio.Future[signal.Signals]) -> None:
        import asyncio

        news = self.readiness.launcher_news()
        if news is None:
            return
        asyncio.get_running_loop().remove_reader(fd)
        self.readiness.close_lifeline()
        if not news:
            log.warning("the starting process exited before it saw the start-up succeed: stopping")
            _resolve(stop, signal.SIGTERM)

    def _drop_privileges(self) -> None:
        drop_privileges(self.identity, effective_only=self.config.euid)

    async def _stop_after_failed_start(self, app: Application) -> None:
        from appcore import stop_application

        try:
            await stop_application(app)
        except Exception:  # the start error is the one worth reporting
            log.debug("stop after a failed start failed too", exc_info=True)

    def _save_shutdown_file(self) -> None:
        if not self.config.saves_on_shutdown:
            return
        saved = self.loaded.save_shutdown(self.rundir)
        if saved is not None:
            log.info("saved %s", saved)

    def _release_pidfile(self) -> None:
        if self.pidfile is not None and self.pidfile.held and not self.pidfile.release():
            log.warning("could not remove the pid file %s", self.pidfile.path)


def _resolve(future: asyncio.Future[signal.Signals], sig: signal.Signals) -> None:
    if not future.done():
        future.set_result(sig)
