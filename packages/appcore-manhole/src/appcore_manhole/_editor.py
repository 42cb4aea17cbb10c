"""Line editing for a character-at-a-time terminal: cursor keys, history, the usual controls.

Keys arrive already decoded (see :class:`KeyDecoder`): a printable character, or one of the
key names below. The editor redraws with ANSI sequences every terminal (and every telnet
client worth using) understands. Tab completes Python names once the editor has a
``complete`` function (see :mod:`._completion`; the session sets it after login), and
indents otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from appcore_manhole._completion import INDENT, Complete, columns

ENTER = "<enter>"
BACKSPACE = "<backspace>"
DELETE = "<delete>"
TAB = "<tab>"
LEFT = "<left>"
RIGHT = "<right>"
UP = "<up>"
DOWN = "<down>"
HOME = "<home>"
END = "<end>"
KILL = "<kill>"  # Ctrl-U: erase the line
INTERRUPT = "<interrupt>"  # Ctrl-C, or telnet's Interrupt Process
EOF = "<eof>"  # Ctrl-D, or the connection closing
CLOSED = "<closed>"  # the connection is gone

HISTORY_SIZE = 500
MAX_LINE = 16384

_CONTROLS = {
    "\x7f": BACKSPACE,
    "\x08": BACKSPACE,
    "\x03": INTERRUPT,
    "\x04": EOF,
    "\x15": KILL,
    "\x01": HOME,
    "\x05": END,
    "\x02": LEFT,
    "\x06": RIGHT,
    "\x10": UP,
    "\x0e": DOWN,
}
_CSI_FINAL = {"A": UP, "B": DOWN, "C": RIGHT, "D": LEFT, "H": HOME, "F": END}
_CSI_TILDE = {"1": HOME, "7": HOME, "4": END, "8": END, "3": DELETE}


class Interrupted(Exception):
    """Ctrl-C while reading a line."""


class KeyDecoder:
    """Turns a stream of characters into keys; keeps state across chunks (split escapes)."""

    def __init__(self) -> None:
        self._escape: str | None = None
        self._after_cr = False

    def feed(self, text: str) -> list[str]:
        keys: list[str] = []
        for char in text:
            if self._escape is not None:
                key = self._escape_char(char)
                if key is not None:
                    keys.append(key)
                continue
            if self._after_cr:
                self._after_cr = False
                # CR LF and CR NUL are one Enter (RFC 854); a lone CR is Enter too.
                if char in ("\n", "\0"):
                    continue
            if char == "\r":
                self._after_cr = True
                keys.append(ENTER)
            elif char == "\n":
                keys.append(ENTER)
            elif char == "\x1b":
                self._escape = ""
            elif char in _CONTROLS:
                keys.append(_CONTROLS[char])
            elif char == "\t":
                keys.append(TAB)
            elif char >= " ":
                keys.append(char)
        return keys

    def _escape_char(self, char: str) -> str | None:
        sequence = self._escape + char if self._escape is not None else char
        if sequence in ("[", "O"):
            self._escape = sequence
            return None
        if len(sequence) >= 2 and sequence[0] in "[O":
            if char.isdigit() or char == ";":
                if len(sequence) > 12:  # garbage: give up on it
                    self._escape = None
                else:
                    self._escape = sequence
                return None
            self._escape = None
            if char == "~":
                return _CSI_TILDE.get(sequence[1:-1].split(";")[0])
            return _CSI_FINAL.get(char)
        self._escape = None  # ESC followed by something else: ignore both
        return None


class LineEditor:
    """Reads one line at a time from ``next_key``, echoing through ``write``."""

    def __init__(
        self,
        next_key: Callable[[], Awaitable[str]],
        write: Callable[[str], None],
        complete: Complete | None = None,
    ) -> None:
        self._next_key = next_key
        self._write = write
        self.history: list[str] = []
        #: What Tab does to the line; None: Tab indents.
        self.complete = complete

    async def read_line(self, prompt: str, *, echo: bool = True) -> str | None:
        """A line without its end; None at end of input. Raises :class:`Interrupted`."""
        self._write(prompt)
        buffer: list[str] = []
        cursor = 0
        browse = len(self.history)
        draft = ""

        def redraw() -> None:
            if not echo:
                return
            text = "".join(buffer)
            back = len(buffer) - cursor
            self._write(f"\r{prompt}{text}\x1b[K" + (f"\x1b[{back}D" if back else ""))

        while True:
            key = await self._next_key()
            if key == CLOSED:
                return None
            if key == ENTER:
                self._write("\r\n")
                line = "".join(buffer)
                if echo and line.strip() and (not self.history or self.history[-1] != line):
                    self.history.append(line)
                    del self.history[:-HISTORY_SIZE]
                return line
            if key == EOF:
                if not buffer:
                    self._write("\r\n")
                    return None
                if cursor < len(buffer):  # Ctrl-D inside a line deletes, as in readline
                    del buffer[cursor]
                    redraw()
                continue
            if key == INTERRUPT:
                self._write("^C\r\n")
                raise Interrupted
            if key == BACKSPACE:
                if cursor > 0:
                    cursor -= 1
                    del buffer[cursor]
                    if echo and cursor == len(buffer):
                        self._write("\b \b")
                    else:
                        redraw()
            elif key == DELETE:
                if cursor < len(buffer):
                    del buffer[cursor]
                    redraw()
            elif key == LEFT:
                if cursor > 0:
                    cursor -= 1
                    if echo:
                        self._write("\x1b[D")
            elif key == RIGHT:
                if cursor < len(buffer):
                    cursor += 1
                    if echo:
                        self._write("\x1b[C")
            elif key == HOME:
                cursor = 0
                redraw()
            elif key == END:
                cursor = len(buffer)
                redraw()
            elif key == KILL:
                buffer, cursor = [], 0
                redraw()
            elif key == TAB and echo and self.complete is not None:
                done = self.complete("".join(buffer), cursor)
                if done.failed:
                    self._write("\a")
                    continue
                if done.choices:
                    self._write("\r\n" + columns(done.choices).replace("\n", "\r\n") + "\r\n")
                buffer, cursor = list(done.line[:MAX_LINE]), min(done.cursor, MAX_LINE)
                redraw()
            elif key in (UP, DOWN):
                if not echo:
                    continue
                if browse == len(self.history):
                    draft = "".join(buffer)
                browse = max(0, browse - 1) if key == UP else min(len(self.history), browse + 1)
                text = self.history[browse] if browse < len(self.history) else draft
                buffer, cursor = list(text), len(text)
                redraw()
            elif not key.startswith("<") or len(key) == 1 or key == TAB:
                if key == TAB:
                    key = INDENT
                if len(buffer) + len(key) > MAX_LINE:
                    continue
                buffer[cursor:cursor] = list(key)
                cursor += len(key)
                if echo and cursor == len(buffer):
                    self._write(key)
                else:
                    redraw()
