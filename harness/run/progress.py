"""What the terminal shows while ``harness run`` trains: one bar over every child run of the study.

The same display serves the three executors. Whoever runs a unit reports each child through a
:data:`Notify` callable, ``notify(event, unit_key)``: in this process it is the display itself;
in ``--jobs`` worker processes and Ray tasks it is a :class:`QueueNotify` that sends the event to
the parent, which applies it (:func:`follow` for a multiprocessing queue, :meth:`RunProgress.drain`
for a Ray queue). Counts are sets of unit keys, so an event seen twice (a retried Ray task
reporting a child again, or a unit's outcome confirming its events) changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.managers import SyncManager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

START, OK, FAILED, KEPT = "start", "ok", "failed", "kept"
Notify = Callable[[str, str], None]
# The ETA averages the speed over the whole study: a child takes minutes, and rich's default
# 30-second window would show no estimate between two of them.
SPEED_WINDOW_SECONDS = 7 * 24 * 3600.0


def ignore(event: str, key: str) -> None:
    """The :data:`Notify` of a run nobody watches."""


class FieldColumn(ProgressColumn):
    """A task's field ``name`` as markup, blank for tasks without it (training's epoch bars,
    which share the display)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def render(self, task: Task) -> Text:
        return Text.from_markup(str(task.fields.get(self.name, "")))


class RunProgress:
    """Runs done / running / failed, a bar, elapsed time and the ETA, for one study.

    Parameters
    ----------
    total : every child run of the study (dataset × model × seed).
    console : where to draw (the run's stderr console).
    enabled : False for ``--no-progress``: nothing is drawn, events are still counted.
    kept : unit keys a resumed parent already holds; counted as done from the start, so they
        do not inflate the speed the ETA is computed from.
    """

    def __init__(
        self, total: int, console: Console, enabled: bool, kept: Iterable[str] = ()
    ) -> None:
        self.enabled = enabled
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            FieldColumn("counts"),
            TimeElapsedColumn(),
            FieldColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=True,
            speed_estimate_period=SPEED_WINDOW_SECONDS,
        )
        self.running: set[str] = set()
        self.done: set[str] = set(kept)
        self.failed: set[str] = set()
        self._lock = threading.Lock()  # events arrive from a drain thread and the main thread
        self._task = self.bar.add_task(
            "runs", total=total, completed=len(self.done), counts=self._counts(), eta="ETA"
        )

    def _counts(self) -> str:
        failed = f"[red]{len(self.failed)} failed[/red]" if self.failed else "0 failed"
        return f"{len(self.running)} running · {len(self.done)} done · {failed}"

    def __call__(self, event: str, key: str) -> None:
        """Apply one event (:data:`START`, :data:`OK`, :data:`FAILED`, :data:`KEPT`) of ``key``."""
        with self._lock:
            if event == START:
                if key in self.done or key in self.failed:
                    return  # a late duplicate: the outcome already counted it
                self.running.add(key)
            else:
                self.running.discard(key)
                (self.failed if event == FAILED else self.done).add(key)
            named = {"description": key} if event == START else {}  # the child now training
            self.bar.update(
                self._task,
                completed=len(self.done) + len(self.failed),
                counts=self._counts(),
                **named,
            )

    def drain(self, source: Any) -> None:
        """Apply every event waiting in a Ray queue (``ray.util.queue.Queue``), without waiting."""
        size = source.qsize()
        if size:
            for event, key in source.get_nowait_batch(size):
                self(event, key)

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


class QueueNotify:
    """A picklable :data:`Notify` for a worker: puts ``(event, key)`` on the parent's queue.

    ``target``: a ``multiprocessing`` manager queue or a ``ray.util.queue.Queue``, both of which
    travel to another process.
    """

    def __init__(self, target: Any) -> None:
        self.target = target

    def __call__(self, event: str, key: str) -> None:
        # the display is best effort: a unit never fails because its progress event was lost
        with contextlib.suppress(Exception):
            self.target.put((event, key))


@contextlib.contextmanager
def worker_events(
    display: RunProgress, context: Any, guard: Callable[[int], None]
) -> Iterator[Notify]:
    """The :data:`Notify` for ``--jobs`` workers of ``context`` (a multiprocessing context):
    events travel on a manager queue and are applied while the block runs. Nothing is started
    for a display that draws nothing (``--no-progress``). ``guard(parent_pid)`` runs first in
    the manager's process (the workers' exit-with-parent watch), so no manager outlives a
    killed parent."""
    if not display.enabled:
        yield ignore
        return
    manager = SyncManager(ctx=context)
    manager.start(guard, (os.getpid(),))
    with manager:
        events = manager.Queue()
        with follow(display, events):
            yield QueueNotify(events)


@contextlib.contextmanager
def follow(display: RunProgress, source: Any) -> Iterator[None]:
    """Apply the events workers put on ``source`` (a multiprocessing manager queue) while the
    block runs, in a reader thread."""

    def read() -> None:
        while (item := source.get()) is not None:
            display(*item)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield
    finally:
        source.put(None)  # after every worker is done: the reader applies the rest, then stops
        reader.join()
