"""The meta-training loop shared by few-shot learners and meta-RL agents.

A trainer supplies one meta-iteration at a time; this loop owns the progress bar, logging,
checkpoints and resuming. Each iteration draws its randomness from generators seeded by
``(seed, iteration)``, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

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


def iteration_rng(seed: int, iteration: int) -> np.random.Generator:
    """The generator of one meta-iteration: independent of how the run was interrupted."""
    return np.random.default_rng([seed, iteration])


def resume_point(run: RunDir, trainer: Trainer) -> tuple[int, float]:
    """Load the run's checkpoint into ``trainer``; return the iterations already done and the
    training seconds they took."""
    state = run.load_checkpoint()
    trainer.load_state_dict(state["trainer"])
    run.truncate_metrics(state["iteration"])
    return int(state["iteration"]), float(state.get("wall_s", 0.0))


def train(
    run: RunDir,
    trainer: Trainer,
    seed: int,
    iterations: int,
    log_every: int,
    checkpoint_every: int,
    start: int = 0,
    elapsed: float = 0.0,
) -> None:
    """Meta-train from iteration ``start`` up to ``iterations``, logging and checkpointing.

    A crash or Ctrl-C loses at most the iterations since the last checkpoint; ``--resume``
    redoes them exactly. ``elapsed`` is the training time of the first ``start`` iterations,
    so that the logged ``time/wall_s`` counts training time across resumes.
    """
    started = time.perf_counter() - elapsed
    bar = tqdm(total=iterations, initial=start, desc="meta-train", unit="it", dynamic_ncols=True)
    try:
        for iteration in range(start, iterations):
            scalars = trainer.train_iteration(iteration, iteration_rng(seed, iteration))
            done = iteration + 1
            wall_s = time.perf_counter() - started
            bar.update(1)
            if done % log_every == 0 or done == iterations:
                scalars["time/wall_s"] = wall_s
                step = scalars.get(STEP_KEY)
                run.log(done, scalars, step=None if step is None else int(step))
                shown = list(scalars.items())[:3]
                bar.set_postfix({tag.split("/")[-1]: f"{value:.3g}" for tag, value in shown})
            if done % checkpoint_every == 0 or done == iterations:
                state = {"iteration": done, "wall_s": wall_s, "trainer": trainer.state_dict()}
                run.save_checkpoint(state)
    finally:
        bar.close()
        run.close()
