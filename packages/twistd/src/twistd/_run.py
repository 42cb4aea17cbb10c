"""One twistd run, start to finish.

The order matters and is the point of this module:

1. in the starting process, where errors still reach the terminal: obtain the application
   (load a file, run a ``-y`` file, or ask a server type), look up users and groups, change
   to the run directory, connect to systemd's notify socket;
2. daemonize (unless ``-n``): from here on the verdict travels through the readiness pipe;
3. take the pid file (it must hold the daemon's pid), set up logging, chroot;
4. on the event loop: privileged start (bind ports as root), drop privileges, start every
   service and await it, then tell the parent and systemd we are ready;
5. on SIGTERM or SIGINT: STOPPING=1, stop every service (awaited), save the shutdown file
   atomically, release the pid file. A second signal during that shutdown exits at once;
   since the save is atomic, the worst it leaves is the previous shutdown file.
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

log = logging.getLogger("appcore.twistd")

#: Exit status after a second stop signal cut the shutdown short (128 + SIGTERM, as a shell
#: reports a process killed by that signal).
FORCED_EXIT = 128 + signal.SIGTERM
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
        if config.pidfile:
            self.pidfile = PidFile(self.rundir / config.pidfile)
            self.pidfile.acquire()
        from ._logging import start_logging

        start_logging(config, self.logfile)
        self._logging_started = True
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
        return code

    async def _serve(self) -> int:
        import asyncio

        from appcore import start_application, stop_application

        from ._logging import reopen_log_files

        loop = asyncio.get_running_loop()
        stop: asyncio.Future[signal.Signals] = loop.create_future()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, _resolve, stop, sig)
        for sig in REOPEN_SIGNALS:
            loop.add_signal_handler(sig, reopen_log_files)
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
        # From now on a second stop signal must cut through anything, including a save
        # that runs without yielding to the loop: a plain signal handler does.
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, self._force_exit)
        self.notifier.stopping()
        log.info("stopping on %s", received.name)
        await stop_application(app)
        self._save_shutdown_file()
        log.info("%s stopped", app.app_name)
        return 0

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

    def _force_exit(self, signum: int, frame: Any) -> None:
        from ._inputs import discard_partial_saves

        discard_partial_saves()
        log.warning(
            "second %s: exiting without finishing the shutdown", signal.Signals(signum).name
        )
        self._release_pidfile()
        logging.shutdown()
        os._exit(FORCED_EXIT)

    def _release_pidfile(self) -> None:
        if self.pidfile is not None and self.pidfile.held and not self.pidfile.release():
            log.warning("could not remove the pid file %s", self.pidfile.path)


def _resolve(future: asyncio.Future[signal.Signals], sig: signal.Signals) -> None:
    if not future.done():
        future.set_result(sig)
