"""Few-shot models: shapes, parameter names, and functional/vmapped use as learners need it."""

import copy
import re

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from metarl.errors import ConfigError
from metarl.fewshot.models import ConvNet, SinusoidMLP, split_norm_affines


def per_task_params(model: nn.Module, n_tasks: int) -> dict[str, torch.Tensor]:
    """The model's parameters, perturbed differently for each task: ``[n_tasks, *shape]``."""
    generator = torch.Generator().manual_seed(0)
    return {
        name: p.detach() + 0.1 * torch.randn(n_tasks, *p.shape, generator=generator)
        for name, p in model.named_parameters()
    }


def assert_vmap_matches_loop(model: nn.Module, inputs: torch.Tensor) -> None:
    params = per_task_params(model, inputs.shape[0])
    batched = vmap(lambda p, x: functional_call(model, p, (x,)))(params, inputs)
    looped = torch.stack(
        [
            functional_call(model, {k: v[t] for k, v in params.items()}, (inputs[t],))
            for t in range(inputs.shape[0])
        ]
    )
    torch.testing.assert_close(batched, looped)


def test_mlp_is_the_maml_architecture():
    model = SinusoidMLP()
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(40, 1), (40,), (40, 40), (40,), (1, 40), (1,)]
    assert model(torch.zeros(7, 1)).shape == (7, 1)
    assert len(list(SinusoidMLP(hidden=8, layers=3).parameters())) == 8


def test_convnet_shapes_and_names():
    model = ConvNet(ways=5)
    x = torch.rand(10, 1, 28, 28)
    assert model(x).shape == (10, 5)
    assert model.embed(x).shape == (10, 64)
    assert isinstance(model.head, nn.Linear) and model.head.in_features == 64
    head = [name for name, _ in model.named_parameters() if name.startswith("head.")]
    assert head == ["head.weight", "head.bias"]
    assert all(name.startswith(("features.", "head.")) for name, _ in model.named_parameters())
    assert list(model.buffers()) == []  # nothing outside the parameters for functional_call


def test_convnet_four_blocks_of_conv_bn_relu_pool():
    model = ConvNet(ways=5, in_channels=3, hidden=32)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features.modules() if isinstance(m, nn.BatchNorm2d)]
    pools = [m for m in model.features.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == len(norms) == len(pools) == 4
    assert convs[0].in_channels == 3 and all(c.out_channels == 32 for c in convs)
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert not any(n.track_running_stats for n in norms)


def second_order_meta_gradient(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """∇θ of a query loss after one differentiable SGD step on a support loss (MAML)."""
    params = dict(model.named_parameters())
    labels = torch.arange(images.shape[0]) % 3

    def loss(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(functional_call(model, p, (x,)), labels[: len(x)])

    steps = torch.autograd.grad(loss(params, images[:6]), list(params.values()), create_graph=True)
    adapted = {k: v - 0.4 * g for (k, v), g in zip(params.items(), steps, strict=True)}
    return list(torch.autograd.grad(loss(adapted, images), list(params.values())))


def binary_images(n: int) -> torch.Tensor:
    """Omniglot-like 0/1 images: blank regions give tied values inside the max-pools."""
    return (torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).double()


def test_block_pools_before_relu_as_the_conventional_block_does_after():
    torch.manual_seed(0)
    model = ConvNet(ways=3, hidden=8).double()
    conventional = copy.deepcopy(model)
    for i, block in enumerate(conventional.features[:-1]):
        norm = nn.BatchNorm2d(8, track_running_stats=False).double()
        norm.load_state_dict(block[1].state_dict())
        conventional.features[i] = nn.Sequential(block[0], norm, nn.ReLU(), nn.MaxPool2d(2))
    images = binary_images(12)
    torch.testing.assert_close(model(images), conventional(images), rtol=0, atol=1e-14)
    got, expected = (second_order_meta_gradient(m, images) for m in (model, conventional))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-14)


def is_norm(name: str) -> bool:
    """Whether a ConvNet parameter or buffer belongs to a block's batch norm."""
    return re.fullmatch(r"features\.\d+\.1\.\w+", name) is not None


@pytest.mark.parametrize("norm_steps", [0, 2])
def test_split_and_fused_norm_affines_agree(norm_steps):
    torch.manual_seed(0)
    model = ConvNet(ways=3, hidden=8, norm_steps=norm_steps).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if is_norm(name):  # the affine parameters, away from 1 and 0
                p.uniform_(0.5, 1.5)
    split = copy.deepcopy(model)
    split_norm_affines(split)
    assert all(getattr(m, "split_affine", True) for m in split.modules())
    assert not any(getattr(m, "split_affine", False) for m in model.modules())
    images = binary_images(12)
    if norm_steps:  # per-step norms run on one step's slice, in eval mode on its statistics
        one_step = {k: v[0] if is_norm(k) else v for k, v in model.state_dict().items()}
        for m in (model, split):
            m.eval()
        outputs = [functional_call(m, one_step, (images,)) for m in (model, split)]
        torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-12, atol=1e-12)
        return
    torch.testing.assert_close(model(images), split(images), rtol=1e-12, atol=1e-12)
    got, expected = (second_order_meta_gradient(m, images) for m in (model, split))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)


def test_mlp_vmapped_functional_call_matches_a_loop():
    assert_vmap_matches_loop(SinusoidMLP(), torch.randn(3, 10, 1))


def test_convnet_vmapped_functional_call_matches_a_loop():
    torch.manual_seed(0)
    assert_vmap_matches_loop(ConvNet(ways=4), torch.rand(3, 8, 1, 28, 28))


def test_vmapped_gradients_match_a_loop():
    torch.manual_seed(0)
    model = ConvNet(ways=3, hidden=16)
    params = per_task_params(model, 3)
    x, y = torch.rand(3, 6, 1, 28, 28), torch.randint(0, 3, (3, 6))

    def loss(p, x, y):
        return nn.functional.cross_entropy(functional_call(model, p, (x,)), y)

    batched = vmap(grad(loss))(params, x, y)
    for t in range(3):
        single = grad(loss)({k: v[t] for k, v in params.items()}, x[t], y[t])
        for name, g in single.items():
            torch.testing.assert_close(batched[name][t], g)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ConvNet(ways=0), "ways=0"),
        (lambda: ConvNet(ways=5, blocks=0), "blocks=0"),
        (lambda: SinusoidMLP(hidden=-1), "hidden=-1"),
    ],
)
def test_bad_sizes_are_config_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_strided_convnet_is_mamls_variant():
    torch.manual_seed(0)
    model = ConvNet(ways=5, hidden=8, strided=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 4
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    x = torch.rand(6, 1, 28, 28)
    maps = model.features[:-1](x)
    assert maps.shape == (6, 8, 2, 2)
    assert torch.allclose(model.embed(x), maps.mean(dim=(2, 3)))
    assert model(x).shape == (6, 5)
