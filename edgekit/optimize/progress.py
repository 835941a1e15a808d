"""Progress, the one way the library reports it: a line per step of a run (which variant, which step, elapsed time
and an estimate of what remains), and bars for training and conversion (rich, on stderr).

The library takes a :class:`Progress`; the CLI enables it unless ``--json``. ``Progress(False)`` is the quiet default;
``on_step`` receives the step lines (also when the bars are off), e.g. to collect them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterator, Sequence


class Progress:
    def __init__(self, enabled: bool = False, on_step: Callable[[str], None] | None = None):
        self.enabled = enabled
        self.on_step = on_step
        self.begin([])

    def begin(self, recipes: Sequence[Any], can_train: bool = True) -> None:
        """A run of ``recipes`` (one variant each) starts now; without training data (``can_train`` False) the
        fine-tuned ones are skipped and cost nothing."""
        self.recipes, self.can_train = list(recipes), can_train
        self.start = self._began = time.monotonic()
        self.done = 0
        self._trained: list[tuple[float, int]] = []  # (seconds, epochs) of finished fine-tuned variants
        self._post: list[float] = []  # seconds of finished post-training variants

    def finished(self, index: int, reused: bool = False) -> None:
        """Variant ``index`` is done (``reused``: it took no time worth learning from)."""
        now = time.monotonic()
        recipe = self.recipes[index]
        if not reused:
            if recipe.needs_training:
                self._trained.append((now - self._began, max(recipe.train.epochs, 1)))
            else:
                self._post.append(now - self._began)
        self._began, self.done = now, self.done + 1

    def left(self) -> str:
        """What remains, priced by kind from the variants already finished: a fine-tuned variant costs its epochs
        × the seconds per epoch measured so far (fine-tuning dominates), a post-training one the mean of those
        done. Until one of each kind has finished it says so instead of guessing: averaging a quick post-training
        variant over slow fine-tuned ones is what made an earlier estimate say 22 s left of 160."""
        pending = [r for r in self.recipes[self.done:] if self.can_train or not r.needs_training]
        trained = [r for r in pending if r.needs_training]
        seconds = 0.0
        if trained:
            if not self._trained:
                return ", estimate after the first fine-tuned variant"
            per_epoch = sum(t for t, _ in self._trained) / sum(e for _, e in self._trained)
            seconds += sum(per_epoch * max(r.train.epochs, 1) for r in trained)
        if len(pending) > len(trained):
            if not self._post:
                return ", estimate after the first variant"
            seconds += (len(pending) - len(trained)) * sum(self._post) / len(self._post)
        return f", ~{seconds:.0f} s left" if pending else ""

    def step(self, index: int, name: str, what: str) -> None:
        """One line: ``[2/5] int8: converting to tflite (12 s elapsed, ~30 s left)``."""
        if self.on_step is None and not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        self.line(f"[{index + 1}/{max(len(self.recipes), 1)}] {name}: {what} ({elapsed:.0f} s elapsed{self.left()})")

    def line(self, text: str) -> None:
        """One progress line: to ``on_step`` if given, else to stderr when enabled."""
        if self.on_step is not None:
            self.on_step(text)
        elif self.enabled:
            print(text, file=sys.stderr, flush=True)

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
