"""Meta-training speed of second-order MAML: the core vmapped, the core sequential, and `higher`.

Three implementations of the same MAML (Finn et al. 2017) meta-update run on the same episodes:
the core with ``vectorize=True`` (one ``torch.func.vmap`` over the meta-batch), the core with
``vectorize=False`` (a loop over tasks), and the ``higher`` library (Grefenstette et al. 2019,
one ``innerloop_ctx`` per task, as in its MAML Omniglot example). Model, initialisation, inner
steps and step size, meta-batch and Adam outer optimizer come from the MAML configs; ``higher``
runs the ConvNet's blocks as its example writes them (``nn.BatchNorm2d``, ReLU, then max-pool),
the core runs them as the package does (the fused norm, or the split one under ``vmap``, and the
max-pool before the ReLU): the same function with the same parameters. On the first
(warm-up) iteration all three start from the same parameters, and their meta-gradients must
agree, so the timings compare like with like. Iterations run round-robin (one of each method in
turn) so that load on a shared machine affects all three alike.

With ``--floor`` the Omniglot problem also reports an arithmetic floor: the FLOPs of one task's
meta-gradient (``torch.utils.flop_counter``: convolutions and matrix products) divided by the
rate at which this CPU runs the net's convolutions alone (each conv layer's forward and backward
at the shapes the task's support and query batches give it), i.e. the tasks/s the method would
reach if nothing but its convolutions took time, at their own best speed; and a second floor,
the tasks/s if nothing but the convolution and batch-norm kernels that the core's task loop
calls took time (their profiled self times in one meta-step).

With ``--cpu-options`` the Omniglot problem also times two CPU options for the task loop
(issue #14's speed part), checked against ``higher`` the same way but kept only if faster and
equal: "channels_last" (every conv's output, so the activations, in channels-last memory
format) and "compiled"
(each task's inner loop and query loss through ``torch.compile``, first iteration untimed).

Problems: "omniglot", the 5-way 1-shot ConvNet of ``omniglot_5w1s_maml.toml`` (real episodes
with ``--data-dir``, else random 28×28 images), and "sinusoid", the MLP of ``sinusoid_maml.toml``.

Usage:
    python experiments/benchmarks/fewshot_speed.py --data-dir ../shared/datasets/omniglot-py \\
        --json --out experiments/benchmarks/results/fewshot_speed.json
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import higher
import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from metarl.config import read_toml
from metarl.core import tree_index
from metarl.experiment import resolve_config
from metarl.fewshot.config import FewShotExperiment, LearnerConfig
from metarl.fewshot.episodes import Episode
from metarl.fewshot.experiment import EpisodeSource, build_model
from metarl.fewshot.learners import GradientLearner, Metric, prediction_loss
from metarl.fewshot.models import ConvNet

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    "omniglot": "experiments/fewshot/omniglot_5w1s_maml.toml",
    "sinusoid": "experiments/fewshot/sinusoid_maml.toml",
}
METHODS = ("vmapped", "sequential", "higher")
CPU_OPTIONS = ("channels_last", "compiled")
GRAD_RTOL = 1e-3
GRAD_ATOL = 1e-4
"""Meta-gradients agree when ``|g − g_higher| <= GRAD_ATOL·max|g_higher| + GRAD_RTOL·|g_higher|``
entrywise (float32; the scale matters for the ConvNet's conv biases, whose gradient is zero)."""


class HigherMAML:
    """Second-order MAML with ``higher``: per task, differentiable SGD on the support loss, then
    the query loss divided by the meta-batch size is backpropagated into the initialisation."""

    def __init__(self, model: nn.Module, config: LearnerConfig, metric: Metric) -> None:
        self.model = model
        self.metric = metric
        self.steps = config.inner_steps
        self.inner_optimizer = torch.optim.SGD(model.parameters(), lr=config.inner_lr)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.outer_lr)

    def meta_step(self, episodes: Episode) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        n_tasks = episodes.support_x.shape[0]
        for t in range(n_tasks):
            with higher.innerloop_ctx(
                self.model, self.inner_optimizer, copy_initial_weights=False
            ) as (fmodel, diffopt):
                for _ in range(self.steps):
                    outputs = fmodel(episodes.support_x[t])
                    diffopt.step(prediction_loss(outputs, episodes.support_y[t], self.metric)[0])
                outputs = fmodel(episodes.query_x[t])
                loss = prediction_loss(outputs, episodes.query_y[t], self.metric)[0]
                (loss / n_tasks).backward()
        self.optimizer.step()


class ChannelsLast:
    """The core's task loop with every conv's output, so the activations, in channels-last
    memory format (the 1-channel images themselves cannot say which format they are in)."""

    def __init__(self, learner: GradientLearner) -> None:
        self.learner = learner
        self.model = learner.model
        for module in self.model.modules():
            if isinstance(module, nn.Conv2d):
                module.register_forward_hook(
                    lambda _, __, output: output.contiguous(memory_format=torch.channels_last)
                )

    def meta_step(self, episodes: Episode) -> None:
        self.learner.meta_step(episodes)


def conventional_blocks(model: nn.Module) -> nn.Module:
    """A copy of a max-pool ConvNet with each block as ``higher``'s MAML example builds it:
    conv, ``nn.BatchNorm2d`` (batch statistics), ReLU, max-pool; same parameters. Other models
    are copied as they are."""
    model = copy.deepcopy(model)
    if not isinstance(model, ConvNet):
        return model
    for position, block in enumerate(model.features):
        if isinstance(block, nn.Sequential) and any(isinstance(m, nn.MaxPool2d) for m in block):
            conv, norm = block[0], block[1]
            standard = nn.BatchNorm2d(norm.num_features, track_running_stats=False)
            standard.load_state_dict(norm.state_dict())
            model.features[position] = nn.Sequential(conv, standard, nn.ReLU(), nn.MaxPool2d(2))
    return model


class CompiledTaskLoop:
    """The core's task loop with each task's adaptation and query loss compiled
    (``torch.compile``, static shapes), and the outer Adam step of :class:`GradientLearner`."""

    def __init__(self, learner: GradientLearner) -> None:
        self.learner = learner
        self.model = learner.model

        def task_loss(params: dict[str, torch.Tensor], episode: Episode) -> torch.Tensor:
            adapted = learner.inner.adapt(params, learner.support_loss, episode)
            return learner.query_fn(adapted, episode)[0]

        self.task_loss = torch.compile(task_loss, dynamic=False)

    def meta_step(self, episodes: Episode) -> None:
        optimizer = self.learner.outer.optimizer
        optimizer.zero_grad(set_to_none=True)
        n_tasks = episodes.support_x.shape[0]
        for t in range(n_tasks):  # one task's graph at a time, as the core's task loop
            (self.task_loss(self.learner.params, tree_index(episodes, t)) / n_tasks).backward()
        optimizer.step()


def load_config(problem: str, meta_batch: int | None, data_dir: Path | None) -> FewShotExperiment:
    overrides = [] if meta_batch is None else [f"learner.meta_batch_size={meta_batch}"]
    if problem == "omniglot":  # the schema wants a folder even when the images are random
        overrides.append(f"data.data_dir={json.dumps(str(data_dir or 'random'))}")
    return resolve_config(read_toml(REPO / CONFIGS[problem]), overrides)[1]


def random_omniglot_batch(
    rng: np.random.Generator, n_tasks: int, ways: int, shots: int, queries: int
) -> Episode:
    """Uniform noise in the shapes of ``OmniglotTasks.sample`` (for when the data is absent)."""
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    labels = torch.arange(ways)
    return Episode(
        support_x=torch.rand(n_tasks, ways * shots, 1, 28, 28, generator=generator),
        support_y=labels.repeat_interleave(shots).expand(n_tasks, -1),
        query_x=torch.rand(n_tasks, ways * queries, 1, 28, 28, generator=generator),
        query_y=labels.repeat_interleave(queries).expand(n_tasks, -1),
    )


def sample_batches(
    config: FewShotExperiment, real_images: bool, count: int
) -> tuple[list[Episode], str]:
    """``count`` meta-batches of training episodes, and a description of where they came from."""
    rng = np.random.default_rng(config.run.seed)
    size = config.learner.meta_batch_size
    if config.data.dataset == "omniglot" and not real_images:
        shape = config.data.episode_shape("train")
        return [random_omniglot_batch(rng, size, *shape) for _ in range(count)], "random images"
    source = EpisodeSource(config, "train")
    return [source.sample(rng, size) for _ in range(count)], f"{config.data.dataset} train split"


def build_methods(config: FewShotExperiment, cpu_options: bool = False) -> dict[str, Any]:
    """The MAML implementations, each on its own copy of one initialised model."""
    torch.manual_seed(config.run.seed)
    model = build_model(config)
    metric: Metric = "mse" if config.data.dataset == "sinusoid" else "accuracy"
    core = {
        name: GradientLearner(
            copy.deepcopy(model), dataclasses.replace(config.learner, vectorize=vectorize), metric
        )
        for name, vectorize in (("vmapped", True), ("sequential", False))
    }
    methods = {**core, "higher": HigherMAML(conventional_blocks(model), config.learner, metric)}
    if cpu_options:
        loop = dataclasses.replace(config.learner, vectorize=False)
        methods["channels_last"] = ChannelsLast(GradientLearner(copy.deepcopy(model), loop, metric))
        methods["compiled"] = CompiledTaskLoop(GradientLearner(copy.deepcopy(model), loop, metric))
    return methods


def gradient_mismatch(model: nn.Module, reference: nn.Module) -> float:
    """Largest ``|g − g_ref| / (GRAD_ATOL·max|g_ref| + GRAD_RTOL·|g_ref|)``; <= 1 is agreement."""
    parameters = zip(model.parameters(), reference.parameters(), strict=True)
    pairs = [(p.grad, q.grad) for p, q in parameters]
    scale = max(ref.abs().max() for _, ref in pairs)
    return max(
        float(((got - ref).abs() / (GRAD_ATOL * scale + GRAD_RTOL * ref.abs())).max())
        for got, ref in pairs
    )


def conv_floor(model: nn.Module, episodes: Episode, method: Any) -> dict[str, float]:
    """FLOPs per task of ``method``'s meta-step and the tasks/s its convolutions alone allow."""
    shapes: list[torch.Size] = []
    hooks = [
        module.register_forward_pre_hook(lambda _, inputs: shapes.append(inputs[0].shape))
        for module in model.modules()
        if isinstance(module, nn.Conv2d)
    ]
    with torch.no_grad():
        model(episodes.support_x[0]), model(episodes.query_x[0])
    for hook in hooks:
        hook.remove()
    convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    flops, seconds = 0.0, 0.0
    for position, shape in enumerate(shapes):
        conv = copy.deepcopy(convs[position % len(convs)])
        inputs = torch.randn(shape, requires_grad=position % len(convs) > 0)
        with FlopCounterMode(display=False) as counter:
            conv(inputs).sum().backward()
        started, repeats = time.perf_counter(), 0
        while time.perf_counter() - started < 0.5:
            conv(inputs).sum().backward()
            repeats += 1
        flops += counter.get_total_flops()
        seconds += (time.perf_counter() - started) / repeats
    with FlopCounterMode(display=False) as counter:
        method.meta_step(episodes)
    n_tasks = episodes.support_x.shape[0]
    task_flops = counter.get_total_flops() / n_tasks
    rate = flops / seconds
    kernel_seconds = conv_and_norm_seconds(method, episodes)
    return {
        "gflop_per_task": task_flops / 1e9,
        "conv_gflop_per_s": rate / 1e9,
        "floor_tasks_per_s": rate / task_flops,
        "conv_and_norm_s_per_task": kernel_seconds / n_tasks,
        "conv_and_norm_floor_tasks_per_s": n_tasks / kernel_seconds,
    }


def conv_and_norm_seconds(method: Any, episodes: Episode) -> float:
    """Seconds that ``method``'s meta-step spends inside the convolution and batch-norm kernels
    (forward, backward and double backward): the profiler self times of every ``aten`` operator
    whose name contains "convolution" or "batch_norm", the thin dispatch layers included."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        method.meta_step(episodes)
    return 1e-6 * sum(
        event.self_cpu_time_total
        for event in profiler.key_averages()
        if event.key.startswith("aten::")
        and ("convolution" in event.key or "batch_norm" in event.key)
    )


def timed(step: Callable[[Episode], Any], batch: Episode) -> float:
    started = time.perf_counter()
    step(batch)
    return time.perf_counter() - started


def benchmark(
    problem: str,
    data_dir: Path | None,
    meta_batch: int | None,
    warmup: int,
    iterations: int,
    cpu_options: bool = False,
    floor: bool = False,
) -> dict[str, Any]:
    """Tasks per second of each method on one problem, after checking their meta-gradients.

    The core's and ``higher``'s must agree; the CPU options' agreement is recorded, not required.
    """
    config = load_config(problem, meta_batch, data_dir)
    batches, episodes = sample_batches(config, data_dir is not None, warmup + iterations)
    methods = build_methods(config, cpu_options)
    names = list(methods)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for i, batch in enumerate(batches):
        for name in names:
            seconds[name].append(timed(methods[name].meta_step, batch))
        if i == 0:
            mismatch = {
                name: gradient_mismatch(methods[name].model, methods["higher"].model)
                for name in names
                if name != "higher"
            }
            if max(mismatch["vmapped"], mismatch["sequential"]) > 1:
                raise AssertionError(f"{problem}: meta-gradients disagree with higher: {mismatch}")
    tasks = config.learner.meta_batch_size * iterations
    rate = {name: tasks / sum(seconds[name][warmup:]) for name in names}
    extra = {}
    if floor:
        model = methods["sequential"].model
        extra["floor"] = conv_floor(model, batches[0], methods["sequential"])
        bounds = extra["floor"]
        bounds["floor_over_higher"] = bounds["floor_tasks_per_s"] / rate["higher"]
        bounds["conv_and_norm_floor_over_higher"] = (
            bounds["conv_and_norm_floor_tasks_per_s"] / rate["higher"]
        )
    return {
        "config": CONFIGS[problem],
        "episodes": episodes,
        "meta_batch": config.learner.meta_batch_size,
        "inner_steps": config.learner.inner_steps,
        "inner_lr": config.learner.inner_lr,
        "warmup_iterations": warmup,
        "timed_iterations": iterations,
        "tasks_per_s": rate,
        "over_higher": {name: rate[name] / rate["higher"] for name in names},
        "vmapped_over_higher": rate["vmapped"] / rate["higher"],
        "vmapped_over_sequential": rate["vmapped"] / rate["sequential"],
        "first_iteration_s": {name: seconds[name][0] for name in names},
        "meta_gradient_mismatch": mismatch,
        **extra,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="omniglot-py folder (else random images)")
    parser.add_argument("--problems", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--omniglot-meta-batch", type=int, help="default: the config's (32)")
    parser.add_argument("--omniglot-iterations", type=int, default=3, help="timed iterations")
    parser.add_argument("--sinusoid-iterations", type=int, default=100, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first (>= 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--cpu-options", action="store_true", help="omniglot: also channels-last and compiled"
    )
    parser.add_argument(
        "--floor", action="store_true", help="omniglot: also the convolutions' arithmetic floor"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error("--warmup must be >= 1 (the first iteration checks the meta-gradients)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = {
        "omniglot": (args.omniglot_meta_batch, args.omniglot_iterations),
        "sinusoid": (None, args.sinusoid_iterations),
    }
    result: dict[str, Any] = {
        "benchmark": "fewshot_speed",
        "algorithm": "maml (second order)",
        "torch": torch.__version__,
        "device": "cpu",
        "threads": args.threads,
        "problems": {},
    }
    for problem in args.problems:
        meta_batch, iterations = settings[problem]
        result["problems"][problem] = benchmark(
            problem,
            args.data_dir,
            meta_batch,
            args.warmup,
            iterations,
            args.cpu_options and problem == "omniglot",
            args.floor and problem == "omniglot",
        )
        if not args.json:
            print_problem(problem, result["problems"][problem])
    if args.json:
        print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def print_problem(problem: str, row: dict[str, Any]) -> None:
    rates = ", ".join(f"{name} {rate:.1f}" for name, rate in row["tasks_per_s"].items())
    print(
        f"{problem} ({row['episodes']}, meta-batch {row['meta_batch']}): tasks/s {rates}; "
        f"vmapped/higher {row['vmapped_over_higher']:.2f}, "
        f"vmapped/sequential {row['vmapped_over_sequential']:.2f}"
    )


if __name__ == "__main__":
    main()
