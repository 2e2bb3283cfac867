"""The Ray sampler on a two-node cluster on this machine (``ray start --head`` and a second
``ray start --address``, one CPU each, so the two workers run on different nodes)."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (make setup-ray)")

STARTUP_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not up after {STARTUP_S} s")
        time.sleep(0.5)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def two_node_cluster():
    port, ray_cli = free_port(), str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    node = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block"]
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    head_args = ["start", "--head", "--port", str(port), "--include-dashboard=false", *node]
    nodes = [subprocess.Popen([ray_cli, *head_args], **quiet)]
    try:
        wait_for(lambda: port_open(port), "the head node")
        worker_args = ["start", "--address", f"127.0.0.1:{port}", *node]
        nodes.append(subprocess.Popen([ray_cli, *worker_args], **quiet))
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
        wait_for(lambda: sum(n["Alive"] for n in ray.nodes()) == 2, "the second node")
        yield
    finally:
        ray.shutdown()
        for process in reversed(nodes):  # `ray start --block` stops its node on SIGTERM
            process.terminate()
        for process in nodes:
            process.wait(timeout=STARTUP_S)
        os.environ.pop("RAY_AUTH_MODE", None)
        # `ray start` left its address for later `ray.init()` calls; the cluster is gone.
        current = Path(tempfile.gettempdir(), "ray", "ray_current_cluster")
        if current.is_file() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


@pytest.mark.slow
def test_two_nodes_sample_the_in_process_episodes(two_node_cluster, ray_trains_as_in_process):
    assert ray.cluster_resources()["CPU"] == 2  # one CPU a node: one 1-CPU worker on each
    ray_trains_as_in_process("maml")
