"""Reading TAS files: a no-exec reader for generated statements, and trusted execution.

The reader never runs the file. It goes through it in chunks of whole lines, so memory stays
small however large the file is. In each chunk it matches every line against the statement
shapes the writer produces, creates the objects the chunk declares (``cls.__new__``), decodes
the values and applies them in file order, which the writer makes children-first as pickle
does. Values that are plain JSON once ``None``/``True``/``False`` and ``_N`` references are
spelled the JSON way go through the C JSON scanner, one line at a time; a chunk with any other
value (bytes, tuples, sets, enums, a comment added at the end of a line) is read line by line,
and those values are parsed with :mod:`ast` and evaluated by a small evaluator that accepts
literals, references and a few constructors, nothing else. Most runs of objects are restored
in bulk, with C calls only (see :meth:`._tas_build.Builder.apply`).

A file the chunked reading cannot take (a statement spread over several lines, a reference
to an object defined further down, code a person added) is read again as a whole: the lines
are parsed (the whole file with :mod:`ast` when a statement spans lines), every declared
object is created up front, and only then are the values applied. That careful reading is
also the one that reports errors, so every error reads the same whichever path met it first.

Why not ``ast.parse`` every file: for 100,000 services it takes seconds and a gigabyte,
which is exactly the cost that made the incumbent's source format unusable at that size.

The statement shapes live in :mod:`._tas_program`, value decoding in :mod:`._tas_values`,
object creation and bulk restoring in :mod:`._tas_build`; this module holds the reading paths
and the trust decision.
"""

from __future__ import annotations

import codecs
from typing import Any

from appcore._errors import AppcoreError, DataError
from appcore.persist._graph import fill_container, new_instance, resolve_class, set_state
from appcore.persist._persistent import VERSION_KEY, Persistent
from appcore.persist.tas._builder import NO_ROOT, Again, Builder
from appcore.persist.tas._program import NotGenerated, Program, by_lines, by_tree

_CHUNK_BYTES = 1 << 18


def read(data: bytes, *, trusted: bool, filename: str) -> object:
    try:
        return _read_chunks(data)
    except Exception:  # the whole-file reading below decides, and reports any error
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{filename} is not UTF-8 text: {err}") from None
    text = text.removeprefix("\ufeff")
    try:
        program = by_lines(text)
        if program is None:
            program = by_tree(text, filename)
        if program is not None:
            try:
                return _build(program, filename)
            except NotGenerated:
                pass  # a value the writer never produces: hand-written code after all
        if not trusted:
            raise DataError(
                f"{filename} holds code that appcore did not generate; it runs only when "
                "trusted (pass --trust-source, or trusted=True)"
            )
        return _execute(text, filename)
    except AppcoreError:
        raise
    except RecursionError:
        raise DataError(f"{filename} is nested too deeply") from None
    except Exception as err:
        raise DataError(f"bad TAS content in {filename}: {type(err).__name__}: {err}") from None


def _read_chunks(data: bytes) -> object:
    """Read a file in chunks of whole lines; any exception means: read it as a whole."""
    builder = Builder()
    view = memoryview(data)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    size = len(data)
    while start < size:
        end = data.find(b"\n", start + _CHUNK_BYTES)
        end = size if end < 0 else end + 1
        text = str(view[start:end], "utf-8")  # a newline never splits a UTF-8 sequence
        if not builder.chunk(text):
            program = by_lines(text)
            if program is None:
                raise Again
            builder.run(program, chunked=True)
        start = end
    if builder.root is NO_ROOT:
        raise Again
    return builder.root


def _build(program: Program, filename: str) -> object:
    builder = Builder(filename)
    builder.run(program, chunked=False)
    if builder.root is NO_ROOT:
        raise DataError(f"{filename} has no 'application = ...' line naming the root")
    return builder.root


def _execute(text: str, filename: str) -> object:
    """Run a trusted TAS file as Python, with the statement functions in its namespace."""

    versions: dict[type, int] = {}

    def cls(path: str, version: int | None = None) -> type:
        found = resolve_class(path)
        if version is not None:
            versions[found] = version
        return found

    def versioned(obj: Any, state: Any) -> Any:
        version = versions.get(type(obj))
        if version is None or not isinstance(obj, Persistent) or type(state) is not dict:
            return state
        return state if VERSION_KEY in state else {**state, VERSION_KEY: version}

    def make(klass: type, state: Any) -> Any:
        obj = new_instance(klass)
        set_state(obj, versioned(obj, state))
        return obj

    def fill(obj: Any, state: Any) -> None:
        fill_container(obj, versioned(obj, state))

    namespace: dict[str, Any] = {
        "__name__": "__tas__",
        "__file__": filename,
        "cls": cls,
        "make": make,
        "shell": new_instance,
        "fill": fill,
    }
    try:
        code = compile(text, filename, "exec")
    except SyntaxError as err:
        raise DataError(f"{filename}:{err.lineno}: syntax error: {err.msg}") from None
    try:
        exec(code, namespace)
    except AppcoreError:
        raise
    except Exception as err:
        raise DataError(f"running {filename} failed: {type(err).__name__}: {err}") from None
    if "application" not in namespace:
        raise DataError(f"{filename} does not set 'application'")
    return namespace["application"]
