"""The meta-training loop shared by few-shot learners and meta-RL agents.

A trainer supplies one meta-iteration at a time; this loop owns the progress bar, logging,
checkpoints and resuming. Each iteration draws its randomness from generators seeded by
``(seed, iteration)``, so a resumed run continues exactly as an uninterrupted one.

After each iteration the loop checks the logged losses and returns, the parameters and the
optimizer state for NaN and infinity (:mod:`metarl.numerics`). ``run.on_nonfinite = "stop"``
ends the run with a :class:`~metarl.errors.NonFiniteError` naming the quantity and the iteration,
leaving the last good checkpoint untouched; ``"skip"`` restores the state from before the
iteration and goes on. Outer steps rejected by TRPO's line search (``step_fraction = 0``) are
counted in ``meta_train/rejected_steps``; a long streak of them is a warning.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any, Literal, Protocol

import numpy as np
from tqdm import tqdm

from metarl.errors import NonFiniteError
from metarl.numerics import nonfinite_quantity
from metarl.runs import RunDir


class Trainer(Protocol):
    """What the loop needs from a learner or agent."""

    def train_iteration(self, iteration: int, rng: np.random.Generator) -> dict[str, float]:
        """One meta-iteration; returns scalars tagged by prefix (``meta_train/...``)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training (parameters and optimizer state)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


STEP_KEY = "time/env_steps"
"""A scalar under this tag is the x-axis of TensorBoard plots (env steps for RL)."""

STEP_FRACTION_KEY = "meta_train/step_fraction"
"""TRPO's accepted step fraction; 0 means the line search rejected the step."""

REJECTED_STREAK_WARNING = 10
"""Warn after this many rejected outer steps in a row (and at every further multiple)."""


def iteration_rng(seed: int, iteration: int) -> np.random.Generator:
    """The generator of one meta-iteration: independent of how the run was interrupted."""
    return np.random.default_rng([seed, iteration])


def resume_point(run: RunDir, trainer: Trainer) -> tuple[int, float]:
    """Load the run's checkpoint into ``trainer``; return the iterations already done and the
    training seconds they took. A run killed before its first checkpoint starts again from
    iteration 0 with the fresh ``trainer``."""
    if not run.has_checkpoint():
        run.truncate_metrics(0)
        return 0, 0.0
    state = run.load_checkpoint()
    trainer.load_state_dict(state["trainer"])
    run.truncate_metrics(state["iteration"])
    return int(state["iteration"]), float(state.get("wall_s", 0.0))


class RejectedSteps:
    """Counts outer steps rejected by the line search, in all and in a row."""

    def __init__(self, total: int = 0, streak: int = 0) -> None:
        self.total = total
        self.streak = streak

    def update(self, scalars: dict[str, float], iteration: int) -> None:
        """Count this iteration's step; add the total to ``scalars``; warn on a long streak."""
        if STEP_FRACTION_KEY not in scalars:
            return
        rejected = scalars[STEP_FRACTION_KEY] == 0.0
        self.total += rejected
        self.streak = self.streak + 1 if rejected else 0
        scalars["meta_train/rejected_steps"] = float(self.total)
        if self.streak and self.streak % REJECTED_STREAK_WARNING == 0:
            tqdm.write(
                f"metarl: warning: the line search rejected the last {self.streak} outer steps "
                f"(iteration {iteration}); the meta-policy is not changing",
                file=sys.stderr,
            )


def nonfinite_message(run: RunDir, quantity: str, iteration: int) -> str:
    """One line: what broke, when, and which checkpoint still holds good state."""
    kept = run.checkpoint_iteration()
    where = (
        f"the last good checkpoint {run.checkpoint_path} (iteration {kept}) is kept"
        if kept is not None
        else "no checkpoint was written yet"
    )
    return f"{quantity} at iteration {iteration}; stopped, {where}"


def train(
    run: RunDir,
    trainer: Trainer,
    seed: int,
    iterations: int,
    log_every: int,
    checkpoint_every: int,
    start: int = 0,
    elapsed: float = 0.0,
    on_nonfinite: Literal["stop", "skip"] = "stop",
) -> None:
    """Meta-train from iteration ``start`` up to ``iterations``, logging and checkpointing.

    A crash or Ctrl-C loses at most the iterations since the last checkpoint; ``--resume``
    redoes them exactly. ``elapsed`` is the training time of the first ``start`` iterations,
    so that the logged ``time/wall_s`` counts training time across resumes. A non-finite
    quantity raises :class:`NonFiniteError` (``on_nonfinite="stop"``) or undoes the iteration
    (``"skip"``).
    """
    started = time.perf_counter() - elapsed
    counts = run.load_checkpoint().get("rejected", (0, 0)) if run.has_checkpoint() else (0, 0)
    rejected = RejectedSteps(*counts)
    bar = tqdm(total=iterations, initial=start, desc="meta-train", unit="it", dynamic_ncols=True)
    try:
        for iteration in range(start, iterations):
            done = iteration + 1
            before = copy.deepcopy(trainer.state_dict()) if on_nonfinite == "skip" else None
            try:
                scalars = trainer.train_iteration(iteration, iteration_rng(seed, iteration))
                quantity = nonfinite_quantity(scalars, trainer.state_dict())
            except NonFiniteError as error:
                quantity = str(error)
            if quantity is not None:
                if before is None:
                    raise NonFiniteError(nonfinite_message(run, quantity, done))
                trainer.load_state_dict(before)
                tqdm.write(
                    f"metarl: warning: {quantity} at iteration {done}; "
                    "skipped (on_nonfinite = skip)",
                    file=sys.stderr,
                )
                scalars = {}
            rejected.update(scalars, done)
            wall_s = time.perf_counter() - started
            bar.update(1)
            if done % log_every == 0 or done == iterations:
                scalars["time/wall_s"] = wall_s
                step = scalars.get(STEP_KEY)
                run.log(done, scalars, step=None if step is None else int(step))
                shown = list(scalars.items())[:3]
                bar.set_postfix({tag.split("/")[-1]: f"{value:.3g}" for tag, value in shown})
            if done % checkpoint_every == 0 or done == iterations:
                state = {
                    "iteration": done,
                    "wall_s": wall_s,
                    "trainer": trainer.state_dict(),
                    "rejected": (rejected.total, rejected.streak),
                }
                run.save_checkpoint(state)
    finally:
        bar.close()
        run.close()
