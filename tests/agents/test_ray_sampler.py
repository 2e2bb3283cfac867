"""The Ray sampler backend on a local Ray instance: the in-process sampler's episodes exactly,
whatever worker dies."""

import logging

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray", reason="the ray extra is not installed (make setup-ray)")

from metarl.agents.trainer import MetaRLTrainer  # noqa: E402


def assert_same_episodes(a, b):
    for name, value in a._asdict().items():
        # exact, with NaN equal to NaN (the success of a family without one)
        torch.testing.assert_close(getattr(b, name), value, rtol=0, atol=0, equal_nan=True)


def test_two_ray_iterations_are_the_in_process_iterations(local_ray, ray_trains_as_in_process):
    ray_trains_as_in_process("maml")


def test_a_killed_worker_is_replaced_and_its_shard_resampled(local_ray, navigation_config, caplog):
    local = MetaRLTrainer(navigation_config("local"))
    remote = MetaRLTrainer(navigation_config("ray"))
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    tasks = local.tasks.sample(5, rng_a)
    assert tasks == remote.tasks.sample(5, rng_b)
    in_process, on_ray = (
        local.meta_batch_sampler(tasks, rng_a),
        remote.meta_batch_sampler(tasks, rng_b),
    )
    policies, theta = local.adaptation.policies, local.params
    support = on_ray.sample(policies, theta, False, rng_b)
    assert_same_episodes(in_process.sample(policies, theta, False, rng_a), support)
    # Mid-iteration, between the support and the query rollouts, worker 1 dies.
    ray.kill(remote.workers.actors[1], no_restart=True)
    adapted = {k: v.expand(5, *v.shape) + 0.01 for k, v in theta.items()}
    with caplog.at_level(logging.WARNING, logger="metarl.agents.ray_sampler"):
        query = on_ray.sample(policies, adapted, True, rng_b)
    assert_same_episodes(in_process.sample(policies, adapted, True, rng_a), query)
    assert remote.workers.restarts == 1
    assert "worker 1 died" in caplog.text
    remote.workers.close()
