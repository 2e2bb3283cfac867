"""The meta-optimizer core shared by few-shot learning and meta-RL.

Parameters are explicit dicts; a task contributes only a loss. See :mod:`metarl.core.inner_loop`
and :mod:`metarl.core.outer`.
"""

from metarl.core.batching import map_tasks
from metarl.core.inner_loop import (
    STEP_SIZE_KINDS,
    UPDATE_RULES,
    InnerLoop,
    InnerLoopConfig,
    PerStep,
    TaskLoss,
    adam_update,
)
from metarl.core.learned_optimizer import CoordinateLSTM, preprocess_gradient
from metarl.core.outer import (
    ALGORITHMS,
    MetaOptimizer,
    QueryFn,
    backward_task_by_task,
    meta_objective,
    multi_step_weights,
    reptile_direction,
    task_objective,
)
from metarl.core.params import (
    STATE_PREFIX,
    Params,
    make_functional,
    model_params,
    module_params,
    tree_index,
    tree_stack,
)

__all__ = [
    "ALGORITHMS",
    "STATE_PREFIX",
    "STEP_SIZE_KINDS",
    "UPDATE_RULES",
    "CoordinateLSTM",
    "InnerLoop",
    "InnerLoopConfig",
    "MetaOptimizer",
    "Params",
    "PerStep",
    "QueryFn",
    "TaskLoss",
    "adam_update",
    "backward_task_by_task",
    "make_functional",
    "map_tasks",
    "meta_objective",
    "model_params",
    "module_params",
    "multi_step_weights",
    "preprocess_gradient",
    "reptile_direction",
    "task_objective",
    "tree_index",
    "tree_stack",
]
