"""Speed of one MAML-RL meta-iteration: HalfCheetahVel, 40 tasks x 20 rollouts x horizon 100.

That is 160,000 environment steps per meta-iteration (80,000 before and 80,000 after the inner
step), the TRPO step included. Reports wall seconds per meta-iteration, end-to-end env-steps/s
and where the time goes (sampling, inner updates, meta-gradient + conjugate gradient, line search).
The policy is the MAML paper's 2x100 by default; ``--reference`` uses pytorch-maml-rl's
``halfcheetah-vel.yaml`` (2x64 tanh, same batch, second order, full curvature, 10 CG iterations).
``--fisher-ab`` times, interleaved on one sampled meta-batch, the TRPO direction (meta-gradient +
conjugate gradient) with the Gauss-Newton and the double-backward KL Hessian products, and reports
how far apart the two directions are. ``--floor`` counts the floating-point operations of the TRPO
direction (``torch.utils.flop_counter``: matrix products only) and divides them by the rate this
machine multiplies matrices at — the policy's own layer shapes batched over tasks, and a large
square product as the peak — to give the direction's arithmetic floor beside its measured time.

    python experiments/benchmarks/rl_speed.py --json [--reference] [--set trpo.fisher_fraction=0.2]
    python experiments/benchmarks/rl_speed.py --json --reference --fisher-ab 3
    python experiments/benchmarks/rl_speed.py --reference --floor 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from metarl.agents.config import RLExperiment
from metarl.agents.losses import SurrogateQuery
from metarl.agents.maml import MAMLRL
from metarl.agents.sampler import RolloutSampler
from metarl.agents.trainer import MetaRLTrainer, make_simulator
from metarl.agents.trpo import conjugate_gradient
from metarl.config import apply_overrides, from_dict, read_toml
from metarl.training import iteration_rng

CONFIG = Path(__file__).resolve().parents[1] / "halfcheetah_vel_maml.toml"
PHASES = ("sample_s", "inner_s", "meta_grad_s", "line_search_s")
REFERENCE = ["policy.hidden=[64, 64]"]
"""pytorch-maml-rl's ``halfcheetah-vel.yaml`` differs from the paper config only in the policy."""
PRODUCTS = ("double_backward", "gauss_newton")


def build(overrides: list[str]) -> tuple[RLExperiment, MetaRLTrainer]:
    raw = apply_overrides(read_toml(CONFIG), ["env.horizon=100", *overrides])
    config = from_dict(RLExperiment, raw)
    return config, MetaRLTrainer(config)


def measure(overrides: list[str], iterations: int) -> dict:
    """Time ``iterations`` meta-iterations after one warm-up iteration."""
    config, trainer = build(overrides)
    trainer.train_iteration(0, iteration_rng(0, 0))  # warm-up: allocations, thread pools
    records = []
    for iteration in range(1, iterations + 1):
        started = time.perf_counter()
        scalars = trainer.train_iteration(iteration, iteration_rng(0, iteration))
        wall = time.perf_counter() - started
        records.append({"wall_s": wall, **{p: scalars[f"time/{p}"] for p in PHASES}})
    steps_per_iteration = trainer.env_steps / (iterations + 1)
    mean = {key: float(np.mean([r[key] for r in records])) for key in records[0]}
    return {
        "iterations_timed": iterations,
        "env_steps_per_iteration": steps_per_iteration,
        "seconds_per_iteration": mean["wall_s"],
        "env_steps_per_s": steps_per_iteration / mean["wall_s"],
        "seconds": {phase: mean[phase] for phase in PHASES},
        **_setting(config),
    }


def sample_meta_batch(config: RLExperiment, trainer: MetaRLTrainer) -> tuple[list, object]:
    """The support and query episodes of meta-iteration 0 (sampled, adapted as in training)."""
    assert isinstance(trainer.learner, MAMLRL) and trainer.learner.outer == "trpo"
    rng = iteration_rng(0, 0)
    tasks = trainer.tasks.sample(config.agent.meta_batch_size, rng)
    simulator = make_simulator(config, tasks, config.agent.rollouts, seed=int(rng.integers(2**31)))
    sampler = RolloutSampler(simulator, len(tasks), config.env.horizon, config.policy.action_scale)
    result = trainer.adaptation.run(sampler, trainer.params, config.agent.inner_steps, rng)
    return result.episodes[:-1], result.episodes[-1]


def fisher_ab(overrides: list[str], repeats: int) -> dict:
    """Seconds of the TRPO direction with each KL Hessian product, interleaved on one meta-batch."""
    config, trainer = build(overrides)
    learner = trainer.learner
    support, query = sample_meta_batch(config, trainer)
    seconds: dict[str, list[float]] = {product: [] for product in PRODUCTS}
    directions = {}
    for _ in range(repeats + 1):  # the first round warms up
        for product in PRODUCTS:
            learner.trpo = dataclasses.replace(learner.trpo, fisher_product=product)
            started = time.perf_counter()
            directions[product] = trpo_direction(learner, support, query)
            seconds[product].append(time.perf_counter() - started)
    reference, fast = directions["double_backward"], directions["gauss_newton"]
    ratios = [a / b for a, b in zip(*(seconds[p][1:] for p in PRODUCTS), strict=True)]
    return {
        "repeats": repeats,
        "direction_s": {p: float(np.median(seconds[p][1:])) for p in PRODUCTS},
        "direction_s_all": {p: seconds[p][1:] for p in PRODUCTS},
        "speedup_median": float(np.median(ratios)),
        "direction_relative_difference": float((fast - reference).norm() / reference.norm()),
        **_setting(config),
    }


def arithmetic_floor(overrides: list[str], repeats: int) -> dict:
    """The TRPO direction's matrix-product FLOPs, its measured seconds (median of ``repeats``
    after a warm-up) and the seconds those FLOPs take at this machine's matrix-product rates."""
    config, trainer = build(overrides)
    learner = trainer.learner
    support, query = sample_meta_batch(config, trainer)
    with FlopCounterMode(display=False) as counter:
        trpo_direction(learner, support, query)
    flops = counter.get_total_flops()
    seconds = []
    for _ in range(repeats + 1):  # the first round warms up
        started = time.perf_counter()
        trpo_direction(learner, support, query)
        seconds.append(time.perf_counter() - started)
    direction_s = float(np.median(seconds[1:]))
    samples = query.mask.numel() // query.mask.shape[0]
    rates = {
        "policy_layers": policy_layer_rate(learner.params, config.agent.meta_batch_size, samples),
        "square_2048": matmul_rate(torch.randn(2048, 2048), torch.randn(2048, 2048)),
    }
    return {
        "repeats": repeats,
        "direction_gflop": flops / 1e9,
        "direction_s": direction_s,
        "direction_s_all": seconds[1:],
        "achieved_gflop_per_s": flops / 1e9 / direction_s,
        "matmul_gflop_per_s": {name: rate / 1e9 for name, rate in rates.items()},
        "floor_s": {name: flops / rate for name, rate in rates.items()},
        **_setting(config),
    }


def policy_layer_rate(params: dict[str, torch.Tensor], tasks: int, samples: int) -> float:
    """FLOP/s of the policy's layers as batched products: ``[tasks, samples, in] @ [tasks, in,
    out]`` for every weight matrix, weighted by their FLOPs (the shapes the vmapped tasks run)."""
    flops, seconds = 0.0, 0.0
    for weight in (value for value in params.values() if value.dim() == 2):
        width_out, width_in = weight.shape
        inputs = torch.randn(tasks, samples, width_in)
        rate = matmul_rate(inputs, torch.randn(tasks, width_in, width_out))
        layer_flops = 2.0 * tasks * samples * width_in * width_out
        flops, seconds = flops + layer_flops, seconds + layer_flops / rate
    return flops / seconds


def matmul_rate(a: torch.Tensor, b: torch.Tensor, seconds: float = 1.0) -> float:
    """FLOP/s of ``a @ b`` repeated for about ``seconds`` (after one warm-up product)."""
    flops = 2.0 * a.shape[-1] * torch.matmul(a, b).numel()
    repeats, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.matmul(a, b)
        repeats += 1
    return flops * repeats / (time.perf_counter() - started)


def trpo_direction(learner: MAMLRL, support: list, query) -> torch.Tensor:
    """What ``meta_grad_s`` times: the objective, its gradient and the CG solve."""
    params = list(learner.params.values())
    losses, metrics = learner.objective(support, SurrogateQuery(query))
    curvature = learner.curvature(support, query, metrics["kl"].mean())
    gradient = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(losses.mean(), params, retain_graph=True)]
    )
    damping = learner.trpo.cg_damping
    return conjugate_gradient(lambda v: curvature(v) + damping * v, gradient, learner.trpo.cg_iters)


def _setting(config: RLExperiment) -> dict:
    return {
        "family": config.env.family,
        "tasks": config.agent.meta_batch_size,
        "rollouts": config.agent.rollouts,
        "horizon": config.env.horizon,
        "fisher_fraction": config.trpo.fisher_fraction,
        "hidden": list(config.policy.hidden),
        "inner_steps": config.agent.inner_steps,
        "cg_iters": config.trpo.cg_iters,
        "fisher_product": config.trpo.fisher_product,
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="timed meta-iterations")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--reference", action="store_true", help="pytorch-maml-rl's config (2x64 policy)"
    )
    parser.add_argument(
        "--fisher-ab", type=int, default=0, metavar="N", help="A/B the KL products, N rounds"
    )
    parser.add_argument(
        "--floor", type=int, default=0, metavar="N", help="direction vs arithmetic floor, N rounds"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    overrides = (REFERENCE if args.reference else []) + args.set
    if args.fisher_ab:
        result = fisher_ab(overrides, args.fisher_ab)
    elif args.floor:
        result = arithmetic_floor(overrides, args.floor)
    else:
        result = measure(overrides, args.iterations)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json or args.fisher_ab or args.floor:
        print(text)
    else:
        print(
            f"{result['seconds_per_iteration']:.2f} s per meta-iteration, "
            f"{result['env_steps_per_s']:.0f} env-steps/s; phases: {result['seconds']}"
        )


if __name__ == "__main__":
    main()
