"""Pipeline stages in threads with bounded queues, so decoding, stylizing and encoding overlap.

PyAV, OpenCV and onnxruntime release the GIL in their C work, so a decoder thread, the caller's
thread (the model) and an encoder thread run at the same time. The queues are short, so memory
stays a few frames whatever the length of the video; order is kept (one thread per stage).
An exception in a stage thread is raised again in the caller's thread.

Ctrl-C: a KeyboardInterrupt raised at an arbitrary instruction can land inside a queue's own
locking and leave a stage waiting forever (seen: the encoder asleep on a queue that held its
last item while `close` waited for it). Inside `deferred_interrupt()` the first Ctrl-C (or
SIGTERM, SIGHUP) only raises a flag, which the loop checks between items.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from .errors import Terminated, raise_terminated

T = TypeVar("T")
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_DONE = object()
_POLL_S = 0.1  # how often a blocked put or get looks whether the other side has stopped


class Interrupt:
    """Whether a stop signal came inside `deferred_interrupt()`; `check()` then raises
    KeyboardInterrupt (Ctrl-C) or `Terminated` (SIGTERM, SIGHUP: a KeyboardInterrupt too)."""

    pressed = False
    signum = signal.SIGINT

    def check(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt if self.signum == signal.SIGINT else Terminated(self.signum)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Interrupt]:
    """Within: the first Ctrl-C (SIGINT), SIGTERM or SIGHUP sets `.pressed` for the caller to act
    on at a safe point, and puts the previous handlers back, so a second signal acts at once, as
    usual. SIGINT is deferred where its handler is a Python function (Python's default is one),
    SIGTERM and SIGHUP only where it is rtstyle's (`errors.raise_terminated`, set by the CLI):
    outside the main thread, in a host's own handler (a Ray worker's), for an ignored signal or
    one left to the system's default, nothing changes."""
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    previous = {
        signum: handler for signum, handler in previous.items()
        if (callable(handler) if signum == signal.SIGINT else handler is raise_terminated)
    }

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def on_signal(signum, frame) -> None:
        interrupt.pressed, interrupt.signum = True, signum
        restore()

    for signum in previous:
        signal.signal(signum, on_signal)
    try:
        yield interrupt
    finally:
        restore()


class Producer(Generic[T]):
    """Iterate `items` in a thread; iterate the Producer to receive them in order.

    As a context manager, leaving early (an error, Ctrl-C) stops the thread at its next item.
    """

    def __init__(self, items: Iterable[T], maxsize: int = 4, name: str = "producer"):
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
            self._put((_DONE, None))
        except BaseException as err:  # handed to the consumer, raised there
            self._put((_DONE, err))

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item, err = self._queue.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Producer[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Consumer(Generic[T]):
    """Call `consume(item)` in a thread for every item `put`, in order.

    As a context manager: on normal exit, and on KeyboardInterrupt (so what was already handed
    over is written: a playable partial video), it waits for every item put; on an error it
    drops the rest. An exception in `consume` is raised by the next `put` or by the exit.
    """

    def __init__(self, consume: Callable[[T], None], maxsize: int = 4, name: str = "consumer"):
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE or self._abort.is_set():
                return
            try:
                self._consume(item)
            except BaseException as err:
                self._error = err
                self._abort.set()
                return

    def put(self, item: T) -> None:
        while True:
            self._raise_error()
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _raise_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def close(self, drain: bool = True) -> None:
        """Wait for the items put so far (drain) or drop them, stop the thread, raise its error."""
        if not drain:
            self._abort.set()
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise_error()

    def __enter__(self) -> Consumer[T]:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close(drain=True)  # a write error here replaces the Ctrl-C: the file is not playable
        else:
            with contextlib.suppress(Exception):
                self.close(drain=False)  # the exception already on its way is the one to report
