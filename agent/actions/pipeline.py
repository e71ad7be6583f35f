"""Fetch, decompress and write on three threads, joined by small bounded queues.

Each stage spends its time in code that lets go of the GIL (socket reads and sha256,
zlib/lzma/bz2/libzstd, os.write), so on two cores the stages overlap as a shell pipeline
of three processes does, with memory bounded by the queues (DEPTH pieces of at most a few
MiB each). The first stage to fail stops the others; its error is the one raised.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

from agent.actions.decoders import Decoder

DEPTH = 8
POLL = 0.2  # how often a blocked stage looks whether another one failed


class _Stopped(Exception):
    """Another stage failed; this one just stops."""


class _Run:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.failed = threading.Event()

    def fail(self, error: BaseException) -> None:
        if not isinstance(error, _Stopped):
            self.errors.append(error)
        self.failed.set()

    def put(self, q: queue.Queue[bytes | None], item: bytes | None) -> None:
        while True:
            if self.failed.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=POLL)
                return
            except queue.Full:
                continue

    def items(self, q: queue.Queue[bytes | None]) -> Iterator[bytes]:
        while True:
            if self.failed.is_set():
                raise _Stopped
            try:
                item = q.get(timeout=POLL)
            except queue.Empty:
                continue
            if item is None:  # the stage before has ended
                return
            yield item

    def thread(self, work: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                work()
            except BaseException as e:
                self.fail(e)

        t = threading.Thread(target=guarded, daemon=True)
        t.start()
        return t


def run(source: Iterable[bytes], decoder: Decoder, write: Callable[[bytes], None]) -> None:
    """Read `source` on one thread, decode on another (unless raw), write on this one."""
    state = _Run()
    fetched: queue.Queue[bytes | None] = queue.Queue(DEPTH)
    decoded: queue.Queue[bytes | None] = queue.Queue(DEPTH // 2)

    def fetch() -> None:
        for chunk in source:
            state.put(fetched, chunk)
        state.put(fetched, None)

    def decode() -> None:
        for chunk in state.items(fetched):
            for piece in decoder.feed(chunk):
                state.put(decoded, piece)
        decoder.end()
        state.put(decoded, None)

    threads = [state.thread(fetch)]
    if decoder.kind != "raw":
        threads.append(state.thread(decode))
    try:
        for piece in state.items(decoded if decoder.kind != "raw" else fetched):
            write(piece)
    except BaseException as e:
        state.fail(e)
    state.failed.set()  # done or not, every stage stops now
    for t in threads:
        t.join()
    if state.errors:
        raise state.errors[0]
