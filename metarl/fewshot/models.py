"""Few-shot models of MAML (Finn et al. 2017) and Prototypical Networks (Snell et al. 2017).

Both hold only parameters, no buffers (but for MAML++'s per-step running statistics), so they run
under ``torch.func.functional_call`` and ``torch.func.vmap`` over a leading task dimension.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metarl.fewshot.episodes import require_positive


class SinusoidMLP(nn.Module):
    """The regression MLP of MAML §5.1: 1 → 40 → 40 → 1 with ReLU (``hidden=40, layers=2``).

    Args:
        hidden: Width of each hidden layer.
        layers: Number of hidden layers.
    """

    def __init__(self, hidden: int = 40, layers: int = 2) -> None:
        super().__init__()
        require_positive(hidden=hidden, layers=layers)
        widths = [1] + [hidden] * layers
        body = [m for a, b in pairwise(widths) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*body, nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``[n, 1]`` inputs → ``[n, 1]`` predictions."""
        return self.net(x)


class ConvNet(nn.Module):
    """The 4-block conv net of Vinyals et al. 2016, MAML and Prototypical Networks.

    Each block is conv 3×3 (``hidden`` filters, padding 1), batch norm, ReLU and 2×2 max-pool, so a
    28×28 image becomes ``hidden`` features of size 1×1. Batch norm always uses the statistics of
    the batch it sees (``track_running_stats=False``), as in MAML, and keeps no buffers. The body is
    ``features`` and the classifier ``head`` (``nn.Linear(hidden, ways)``), so ANIL (Raghu et al.
    2020) can adapt just the parameters named ``head.*``.

    With ``strided=True`` it is MAML's Omniglot variant instead (Finn et al. 2017, §5.2 and
    their code): 3×3 convolutions of stride 2 in place of the max-pools, 28 → 14 → 7 → 4 → 2,
    and the features averaged over the remaining 2×2 positions. With ``norm_steps > 0`` the batch
    norms are MAML++'s per-step ones (:class:`PerStepBatchNorm2d`).

    Args:
        ways: Number of classes the head outputs.
        in_channels: Channels of the input images.
        hidden: Filters per conv layer, and so the embedding size.
        blocks: Number of conv blocks; the input must shrink to 1×1 after ``blocks`` 2×2 pools.
        strided: MAML's strided convolutions and spatial mean instead of max-pools.
        norm_steps: entries of per-step batch norm (inner steps + 1); 0: plain batch norm.
    """

    def __init__(
        self,
        ways: int,
        in_channels: int = 1,
        hidden: int = 64,
        blocks: int = 4,
        strided: bool = False,
        norm_steps: int = 0,
    ) -> None:
        super().__init__()
        require_positive(ways=ways, in_channels=in_channels, hidden=hidden, blocks=blocks)
        channels = [in_channels] + [hidden] * blocks
        blocks_ = [conv_block(a, b, strided, norm_steps) for a, b in pairwise(channels)]
        pool = SpatialMean() if strided else nn.Flatten()
        self.features = nn.Sequential(*blocks_, pool)
        self.head = nn.Linear(hidden, ways)

    def embed(self, x: Tensor) -> Tensor:
        """``[n, in_channels, 28, 28]`` images → ``[n, hidden]`` features (for ProtoNets)."""
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, in_channels, 28, 28]`` images → ``[n, ways]`` logits."""
        return self.head(self.embed(x))


class BatchStatNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d(track_running_stats=False)``: batch statistics always, and no buffers.

    With ``split_affine`` set (:func:`split_norm_affines`) the affine transform is applied apart
    from the normalisation. The values are the same, but the fused kernel's double backward is
    wrong for the input under ``torch.func.vmap`` when the affine parameters differ per task
    (torch 2.x, pytorch/functorch#534), which biases vmapped second-order MAML. Unsplit, one
    fused kernel does both, which makes a task loop's MAML meta-step about 1.25× faster on CPU.
    """

    split_affine: bool = False

    def __init__(self, channels: int) -> None:
        super().__init__(channels, track_running_stats=False)

    def forward(self, x: Tensor) -> Tensor:
        return affine_batch_norm(x, None, None, self.weight, self.bias, self.eps, self.split_affine)


def affine_batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor,
    bias: Tensor,
    eps: float,
    split: bool,
) -> Tensor:
    """Batch norm of ``[n, c, h, w]`` with per-channel ``weight`` and ``bias``: on the batch's
    statistics without running ones, else on those; the affine transform apart if ``split``."""
    training = running_mean is None
    if not split:
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, eps=eps)
    normed = F.batch_norm(x, running_mean, running_var, training=training, eps=eps)
    return normed * weight[:, None, None] + bias[:, None, None]


def split_norm_affines(model: nn.Module) -> None:
    """Make ``model``'s batch norms apply their affine transforms apart from the normalisation,
    as second-order meta-gradients under ``torch.func.vmap`` need (see :class:`BatchStatNorm2d`)."""
    for module in model.modules():
        if isinstance(module, BatchStatNorm2d | PerStepBatchNorm2d):
            module.split_affine = True


class PerStepBatchNorm2d(nn.Module):
    """MAML++'s per-step batch norm (Antoniou et al. 2019, §4 "BNWB" and "BNRS").

    One affine weight and bias per channel *and per inner step* (``[steps, channels]``), and one
    set of running statistics per step. The model is called with the parameters of step ``j``
    sliced out (:meth:`metarl.core.InnerLoop.at_step`), so the forward sees ``[channels]``
    tensors. In training mode it normalises with the batch's statistics (as MAML does) and, while
    :func:`recording_statistics` names a step, folds them into that step's running statistics
    (momentum 0.1, unbiased variance, as ``nn.BatchNorm2d``); in eval mode it normalises with the
    running statistics it is given (sliced like the weights). ``split_affine`` as in
    :class:`BatchStatNorm2d`.
    """

    split_affine: bool = False

    def __init__(self, channels: int, steps: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(steps, channels))
        self.bias = nn.Parameter(torch.zeros(steps, channels))
        self.register_buffer("running_mean", torch.zeros(steps, channels))
        self.register_buffer("running_var", torch.ones(steps, channels))
        self.momentum = momentum
        self.eps = eps
        self.record_step: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.dim() != 1:
            raise RuntimeError("per-step batch norm needs one step's weights (InnerLoop.at_step)")
        if self.training and self.record_step is not None:
            self._record(x, self.record_step)
        mean, var = (None, None) if self.training else (self.running_mean, self.running_var)
        return affine_batch_norm(x, mean, var, self.weight, self.bias, self.eps, self.split_affine)

    @torch.no_grad()
    def _record(self, x: Tensor, step: int) -> None:
        dims = (0, 2, 3)
        self.running_mean[step].lerp_(x.mean(dims), self.momentum)
        self.running_var[step].lerp_(x.var(dims, correction=1), self.momentum)


@contextmanager
def recording_statistics(model: nn.Module, step: int) -> Iterator[None]:
    """Within the block, training-mode forwards of ``model`` (outside ``torch.func``
    transforms) update the running statistics of step ``step`` of its per-step batch norms."""
    norms = [m for m in model.modules() if isinstance(m, PerStepBatchNorm2d)]
    for norm in norms:
        norm.record_step = step
    try:
        yield
    finally:
        for norm in norms:
            norm.record_step = None


def per_step_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Name prefixes of the model's per-step batch norms (for ``InnerLoopConfig.per_step``)."""
    return tuple(
        name + "." for name, m in model.named_modules() if isinstance(m, PerStepBatchNorm2d)
    )


class SpatialMean(nn.Module):
    """``[n, c, h, w] → [n, c]``: the mean over positions (MAML's strided net)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(-2, -1))


def conv_block(
    in_channels: int, out_channels: int, strided: bool = False, norm_steps: int = 0
) -> nn.Sequential:
    """Conv 3×3 (padding 1), batch norm on batch statistics (per step with ``norm_steps``),
    ReLU, 2×2 max-pool; or, strided, a stride-2 conv 3×3 (padding 1), batch norm and ReLU.

    The max-pool runs before the ReLU: the same function and gradients (a max commutes with a
    monotone map), with the ReLU and its backward on a quarter of the values."""
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size=3, stride=2 if strided else 1, padding=1
    )
    norm = (
        PerStepBatchNorm2d(out_channels, norm_steps)
        if norm_steps
        else BatchStatNorm2d(out_channels)
    )
    if strided:
        return nn.Sequential(conv, norm, nn.ReLU())
    return nn.Sequential(conv, norm, nn.MaxPool2d(2), nn.ReLU())
