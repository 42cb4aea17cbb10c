"""The interpreter behind every manhole session: Python lines run inside the application.

Lines accumulate until they form a complete statement (as in the interactive interpreter),
then run in the session's namespace on the application's own event loop. As in Python's own
REPL, the value of every expression statement of that input is shown (``x = 5; x`` shows
5, and so does each turn of ``for i in range(3): i``), except inside the functions and
classes it defines. Top-level ``await`` works; an expression whose value is a coroutine or
a future (``services.add(...)``, ``app.add_service(...)``) is awaited before its result is
shown, so a start that fails is reported on the spot instead of vanishing into the log.

Code runs on the loop: a long computation typed here stalls every other connection of the
process for as long as it takes. That is the nature of a manhole.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import codeop
import inspect
import traceback
from collections.abc import Callable
from typing import Any

FILENAME = "<manhole>"
PS1 = ">>> "
PS2 = "... "
#: How long the console waits for an awaited result before giving up on showing it.
AWAIT_TIMEOUT = 60.0
#: The namespace name through which the code shows the values of expression statements.
SHOW = "__manhole_show__"
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class Console:
    """Runs the lines of one session; ``write`` receives everything to show."""

    def __init__(self, namespace: dict[str, Any], write: Callable[[str], None]) -> None:
        self.namespace = namespace
        self.write = write
        self.buffer: list[str] = []
        self._compiler = codeop.CommandCompiler()
        self._compiler.compiler.flags |= _FLAGS
        namespace.setdefault("__name__", "__manhole__")
        namespace.setdefault("__builtins__", builtins)
        namespace["print"] = self._print
        # The site module's exit() closes sys.stdin and help() pages on the server's own
        # terminal: in a server both must act on the session instead.
        namespace["exit"] = namespace["quit"] = _Logout()
        namespace["help"] = self._help

    @property
    def prompt(self) -> str:
        """The prompt for the next line: ``>>>`` or ``...`` inside a compound statement."""
        return PS2 if self.buffer else PS1

    def reset(self) -> None:
        """Forget a half-typed statement (Ctrl-C)."""
        self.buffer = []

    async def push(self, line: str) -> None:
        """Add a line; once the statement is complete, run it and show its outcome."""
        self.buffer.append(line)
        source = "\n".join(self.buffer)
        try:
            complete = self._compiler(source, FILENAME, "single")
        except (SyntaxError, OverflowError, ValueError) as err:
            self.buffer = []
            self._show_exception(err, skip_frames=False)
            return
        if complete is None:
            return
        self.buffer = []
        await self.run_source(source)

    async def run_source(self, source: str) -> None:
        """Run a complete piece of source, showing the values of its expression statements."""
        try:
            tree = compile(source, FILENAME, "exec", flags=ast.PyCF_ONLY_AST | _FLAGS)
            tree = ast.fix_missing_locations(_ShowExpressions().visit(tree))
            code = compile(tree, FILENAME, "exec", flags=_FLAGS)
        except (SyntaxError, OverflowError, ValueError) as err:
            self._show_exception(err, skip_frames=False)
            return
        self.namespace[SHOW] = self._show
        try:
            result = eval(code, self.namespace)
            if code.co_flags & inspect.CO_COROUTINE:
                await result
        except SystemExit:
            raise
        except asyncio.CancelledError:
            if _current_task_cancelling():
                raise
            self.write("CancelledError\n")
            return
        except BaseException as err:
            self._show_exception(err, skip_frames=True)

    async def _show(self, value: Any) -> None:
        """What the REPL's display hook does, awaiting a coroutine or future first."""
        if inspect.iscoroutine(value) or asyncio.isfuture(value):
            value = await asyncio.wait_for(asyncio.shield(value), AWAIT_TIMEOUT)
        if value is not None:
            text = repr(value)  # first: a failing repr leaves "_" as it was
            self.namespace["_"] = value
            self.write(text + "\n")

    def _print(
        self,
        *values: Any,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        if file is not None:
            builtins.print(*values, sep=sep, end=end, file=file, flush=flush)
            return
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        self.write(sep.join(str(value) for value in values) + end)

    def _help(self, *about: Any) -> None:
        if not about:
            self.write("help(object) shows the documentation of an object.\n")
            return
        import pydoc

        for item in about:
            self.write(pydoc.plain(pydoc.render_doc(item)) + "\n")

    def _show_exception(self, err: BaseException, *, skip_frames: bool) -> None:
        report = traceback.TracebackException.from_exception(err)
        # Drop this module's frames (all of them for a syntax error, as the REPL does): the
        # person wants their own line's traceback.
        frames = [frame for frame in report.stack if skip_frames and frame.filename != __file__]
        report.stack = traceback.StackSummary.from_list(frames)
        self.write("".join(report.format()))


class _ShowExpressions(ast.NodeTransformer):
    """Turns each expression statement ``X`` into ``await __manhole_show__(X)``.

    Like the REPL's compilation in "single" mode, it leaves the bodies of functions and
    classes alone: only what runs at the top level of the input is shown.
    """

    def visit_Expr(self, node: ast.Expr) -> ast.Expr:
        show = ast.Call(ast.Name(SHOW, ast.Load()), [node.value], [])
        return ast.copy_location(ast.Expr(ast.Await(show)), node)

    # The bodies of what the input defines are left alone.

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        return node


class _Logout:
    """``exit()`` and ``quit()``: end the session (never the server)."""

    def __repr__(self) -> str:
        return "Use exit() or Ctrl-D to log out"

    def __call__(self, code: object = None) -> None:
        raise SystemExit(code)


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
