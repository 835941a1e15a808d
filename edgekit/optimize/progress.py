"""Progress bars for training and conversion steps (rich, on stderr), or nothing at all when disabled.

The library takes a :class:`Progress`; the CLI enables it unless ``--json``. ``Progress(False)`` is the quiet default.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


class Progress:
    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self._bar = None

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """A step; yields ``advance(n=1)``. Without a total it shows a spinner with elapsed time."""
        if not self.enabled:
            yield lambda n=1: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total:
            columns += [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
        else:
            columns.append(TimeElapsedColumn())
        with Bar(*columns, console=Console(stderr=True), transient=False) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task_id, n)
            if total:
                bar.update(task_id, completed=total)

    def keras_callback(self, advance: Callable[[int], None]):
        """A tf-keras callback that advances the bar once per training batch."""
        from edgekit._tf import tf_keras

        class _Advance(tf_keras().callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                advance(1)

        return _Advance()
