"""Zero-copy file responses written straight to a connection's socket.

asyncio's ``loop.sendfile`` is general but costly for a web server: for every slice it waits
for the transport's buffer to empty and pauses reading, and on every ``EAGAIN`` it removes and
re-adds the socket's selector registration; uvloop has no ``sendfile`` at all. Here a
response is a list of pieces, each some bytes (the head, a multipart part head) followed by a
range of the file. The bytes go out with ``send`` (``MSG_MORE`` while file data follows, so
the head shares a segment with the body) and the range with ``os.sendfile``, whenever the
socket has room. Most responses finish inside the call that starts them; the rest keep one
writer registration for the whole transfer.

That registration is made on a duplicate of the socket's descriptor: the loop reserves the
transport's own descriptor for the transport (asyncio refuses ``add_writer`` on it, libuv
allows one watcher per descriptor), and a duplicate has its own entry in the poller. The
connection owns the duplicate and closes it when the connection is lost.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection

#: A response to send: each piece is (bytes to send, file offset, count of file bytes).
Pieces = list[tuple[bytes, int, int]]

CAN_SENDFILE = hasattr(os, "sendfile")
_MSG_MORE: int = getattr(socket, "MSG_MORE", 0)
# A client must take this much per send_timeout or be dropped, as with a paused transport.
_PROGRESS_BYTES = 1 << 20
# os.sendfile refusing the file (not the socket): the rest is copied through the transport.
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


class FileSender:
    """Sends one response's pieces from an open file on a connection's raw socket.

    :meth:`send` pushes what the socket takes and says whether the response is finished;
    if not, :meth:`wait` gives a future that settles when it is. Afterwards ``error`` holds
    what went wrong, and ``unsupported`` says that :meth:`remaining` must be copied instead.
    """

    __slots__ = (
        "_conn",
        "_count",
        "_data",
        "_future",
        "_loop",
        "_next",
        "_offset",
        "_pieces",
        "_progress",
        "_sock",
        "_sock_fd",
        "_watching",
        "error",
        "file_fd",
        "finished",
        "unsupported",
    )

    def __init__(
        self, conn: HTTPConnection, sock: socket.socket, file_fd: int, pieces: Pieces
    ) -> None:
        self._conn = conn
        self._loop = conn.loop
        self._sock = sock
        self._sock_fd = sock.fileno()
        self.file_fd = file_fd
        self._pieces = pieces
        self._next = 0
        self._data = b""
        self._offset = 0
        self._count = 0
        self._progress = 0
        self._watching = False
        self._future: asyncio.Future[None] | None = None
        self.finished = False
        self.unsupported = False
        self.error: Exception | None = None

    def send(self) -> bool:
        """Send all the socket takes now; True once finished (sent, failed or unsupported)."""
        conn = self._conn
        transport = conn.transport
        if conn.lost or transport is None or transport.is_closing():
            return self._end(ConnectionResetError("client went away"))
        sock = self._sock
        pieces = self._pieces
        try:
            while True:
                data = self._data
                if data:
                    more = _MSG_MORE if self._count or self._next < len(pieces) else 0
                    done = sock.send(data, more)
                    if done < len(data):
                        self._data = data[done:]
                        return self._wait()
                    self._data = b""
                count = self._count
                if count:
                    try:
                        done = os.sendfile(self._sock_fd, self.file_fd, self._offset, count)
                    except OSError as exc:
                        if exc.errno in _UNSUPPORTED:
                            self.unsupported = True
                            return self._end(None)
                        raise
                    if not done:
                        raise ConnectionAbortedError("file shrank while being sent")
                    self._offset += done
                    self._count = count - done
                    self._progress += done
                    conn.sent += done
                    if done < count:  # the socket is full: wait for room
                        return self._wait()
                if self._next == len(pieces):
                    return self._end(None)
                self._data, self._offset, self._count = pieces[self._next]
                self._next += 1
        except (BlockingIOError, InterruptedError):
            return self._wait()
        except OSError as exc:  # the client went away (EPIPE, ECONNRESET) or the file shrank
            return self._end(exc)

    def remaining(self) -> Pieces:
        """What is still unsent, as pieces."""
        return [(self._data, self._offset, self._count), *self._pieces[self._next :]]

    def wait(self) -> asyncio.Future[None]:
        """A future that settles when the response is finished (see ``error``)."""
        future = self._future
        if future is None:
            future = self._future = self._loop.create_future()
            if self.finished:
                future.set_result(None)
        return future

    def close(self) -> None:
        """Stop watching the socket, close the file, cancel a pending wait; idempotent."""
        self.finished = True
        self._unwatch()
        if self.file_fd >= 0:
            os.close(self.file_fd)
            self.file_fd = -1
        future = self._future
        if future is not None and not future.done():
            future.cancel()

    def _wait(self) -> bool:
        if not self._watching:
            self._loop.add_writer(self._sock_fd, self._writable)
            self._watching = True
        conn = self._conn
        if not conn.write_deadline or self._progress >= _PROGRESS_BYTES:
            self._progress = 0
            conn.write_deadline = self._loop.time() + conn.limits.send_timeout
        return False

    def _writable(self) -> None:
        self.send()

    def _end(self, error: Exception | None) -> bool:
        self.finished = True
        self.error = error
        self._unwatch()
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)
        return True

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_writer(self._sock_fd)
            self._conn.write_deadline = 0.0
