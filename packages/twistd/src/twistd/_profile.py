"""``-p/--profile FILE``: run under a profiler and write its statistics for ``pstats``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appcore import CantCreateError

T = TypeVar("T")


def profiled(profiler: str, output: Path, call: Callable[[], T]) -> T:
    """Run ``call`` under ``profiler`` (``cprofile`` or ``profile``); stats go to ``output``.

    The statistics are written even when ``call`` raises, since a failing run is often the
    one worth profiling. Load them with ``python -m pstats FILE``.
    """
    if profiler == "profile":
        import profile

        prof: Any = profile.Profile()
    else:
        import cProfile

        prof = cProfile.Profile()
    try:
        return prof.runcall(call)  # type: ignore[no-any-return]
    finally:
        _dump(prof, output)


def _dump(prof: Any, output: Path) -> None:
    import os
    import tempfile

    # Atomic, like every file twistd writes: a reader never sees half the statistics.
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    except OSError as err:
        raise CantCreateError(f"profile output {output}: {err.strerror}") from None
    os.close(fd)
    try:
        prof.dump_stats(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, output)
    except OSError as err:
        raise CantCreateError(f"profile output {output}: {err.strerror}") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
