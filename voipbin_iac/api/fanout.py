"""Requests side by side: a few independent calls run at once, so their latencies overlap
instead of adding up.

The client is thread-safe and paces every request through its token bucket, so calls run
together never send faster than the rate limit; they only stop round trips from following one
another. `settle` runs the calls, at most `limit` at once (the caller's thread runs the first
call and then its share; the others run on daemon threads), and hands back each call's result
or error in the order the calls were given. `each` is the common case: the results, or the
first error in call order; once a call has failed no further call starts, as a loop that stops
at its first error would have it.

Every call has ended when `settle` returns or raises, so nothing of it still talks to the
account behind the caller's back, with one exception: an abort (`KeyboardInterrupt`, the
apply's second Ctrl-C) is raised at once, as it would be from a loop, and the calls under way
end on their own (daemon threads). Any other exception of the caller's own call (a simulated
kill in tests) stops further calls from starting and is raised once those under way have
ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Settled(Generic[T]):
    """What one call came to: its value, its error, or neither when it never started."""

    value: T | None = None
    error: BaseException | None = None
    started: bool = True

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        if not self.started:  # only after an earlier call's error, which `each` raised first
            raise RuntimeError("a call that never started has no result")
        return self.value  # type: ignore[return-value]


def settle(calls: Sequence[Callable[[], T]], *, limit: int | None = None,
           name: str = "fanout", stop_on_error: bool = False) -> list[Settled[T]]:
    """Run `calls`, at most `limit` at once (default: all); their outcomes, in order."""
    count = len(calls)
    outcomes: list[Settled[T]] = [Settled(started=False)] * count
    if count == 0:
        return outcomes
    lock = threading.Lock()
    stop = threading.Event()
    taken = iter(range(count))

    def run(catch: type[BaseException], index: int | None = None) -> None:
        """Run call `index` (the caller's first, whatever else happened), then take more."""
        while True:
            if index is None:
                with lock:
                    index = None if stop.is_set() else next(taken, None)
                if index is None:
                    return
            try:
                outcomes[index] = Settled(calls[index]())
            except catch as exc:
                outcomes[index] = Settled(error=exc)
                if stop_on_error:
                    stop.set()
            index = None

    first = next(taken)  # the caller's own: taken before any helper can take it
    helpers = [threading.Thread(target=run, args=(BaseException,), daemon=True,
                                name=f"{name}:{i + 1}")
               for i in range(min(count, max(1, limit or count)) - 1)]
    try:
        for thread in helpers:  # (an interrupt while they start: none of them runs a call)
            thread.start()
        run(Exception, first)  # an interrupt here is raised, not kept as an outcome
    except KeyboardInterrupt:
        stop.set()  # an abort: raised at once; the calls under way end on their own
        raise
    except BaseException:
        stop.set()  # nothing new starts; what is under way ends before this is raised
        for thread in helpers:
            if thread.is_alive():
                thread.join()
        raise
    for thread in helpers:
        thread.join()
    return outcomes


def each(calls: Sequence[Callable[[], T]], *, limit: int | None = None,
         name: str = "fanout") -> list[T]:
    """The results of `calls` run side by side, in order; the first error (in call order) is
    raised, and once one call has failed no further call starts."""
    outcomes = settle(calls, limit=limit, name=name, stop_on_error=True)
    for outcome in outcomes:  # the calls never started all come after one that failed
        if outcome.error is not None:
            raise outcome.error
    return [outcome.get() for outcome in outcomes]
