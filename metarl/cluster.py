"""Joining a Ray cluster (the optional ``ray`` extra), for the Ray sampler and ``metarl sweep``."""

from __future__ import annotations

from typing import Any

from metarl.errors import ConfigError


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "this needs Ray, the optional extra: pip install -e '.[ray]' (or make setup-ray)"
        ) from None
    return ray


def connect(address: str, num_cpus: int | None = None) -> Any:
    """The ``ray`` module, joined to the cluster at ``address`` unless this process already is in
    one: "local" starts one here (``num_cpus`` CPUs, default all), "auto" joins the cluster this
    machine belongs to (``ray start``), "ray://HOST:PORT" connects through Ray Client."""
    ray = import_ray()
    if not ray.is_initialized():
        if address == "local":
            ray.init(
                address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False
            )
        else:
            ray.init(address=address, log_to_driver=False)
    return ray
