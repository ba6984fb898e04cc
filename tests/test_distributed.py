"""`rtstyle train` under torchrun: two CPU processes (gloo) train as one process with the same global batch."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

FP32_RTSTYLE = str(Path(__file__).with_name("train_fp32.py"))
ALONE = [sys.executable, FP32_RTSTYLE]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", FP32_RTSTYLE]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}  # one thread per process, loopback only


@pytest.fixture
def job(photos):
    folder, style = photos
    return ["train", "--style", style, "--data", folder, "--size", 32, "--batch", 4, "--scale", 64,
            "--arch", "fast", "--channels", "4,8", "--residual-blocks", 1, "--checkpoint-every", 1000]


def train(launcher, args, **kwargs):
    run = subprocess.run([*launcher, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300, **kwargs)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stderr


def last_terms(log: str) -> dict[str, float]:
    """The loss terms of the last `step N/M ...` line."""
    line = [l for l in log.splitlines() if re.match(r"step \d+/\d+ ", l)][-1]
    return {k: float(v) for k, v in re.findall(r"([a-z]+) (-?\d+\.\d+)", line)}


def test_two_processes_train_as_one_with_the_same_global_batch(job, tmp_path):
    """Fresh and resumed: the same losses and weights, up to float rounding (the schedule
    depends on --iterations, so each side runs 2 steps and then --resume to 4)."""
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    alone = [train(ALONE, [*job, "-o", one, "--iterations", n, "--resume"]) for n in (2, 4)]
    first = train(TORCHRUN, [*job, "-o", two, "--iterations", 2])
    assert first.count("wrote ") == 1  # rank 0 speaks and writes for the job
    assert sorted(p.name for p in tmp_path.iterdir() if "two" in p.name) == ["two.preview.jpg", "two.pt"]
    assert last_terms(first) == pytest.approx(last_terms(alone[0]), abs=2e-3)

    resumed = train(TORCHRUN, [*job, "-o", two, "--iterations", 4, "--resume"])
    assert resumed.count("resuming") == 1 and "at step 2" in resumed
    assert last_terms(resumed) == pytest.approx(last_terms(alone[1]), abs=2e-3)
    a, b = torch.load(one, weights_only=True), torch.load(two, weights_only=True)
    assert a["step"] == b["step"] == 4 and b["config"]["batch"] == 4
    # The networks, not every weight: a convolution's bias before an instance norm gets a zero
    # gradient up to rounding, which Adam scales up to a full step either way (and which the norm removes).
    photo = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(stylize(b, photo), stylize(a, photo), rtol=1e-4, atol=1e-5)


def stylize(checkpoint: dict, photo: torch.Tensor) -> torch.Tensor:
    from rtstyle.networks import NetConfig, build_network

    net = build_network(NetConfig.from_dict(checkpoint["net"]))
    net.load_state_dict(checkpoint["model"])
    with torch.no_grad():
        return net.eval()(photo)


def test_each_rank_takes_its_share_of_the_global_batch():
    from rtstyle.errors import UserError
    from rtstyle.train import Ranks, local_rows

    assert local_rows(8, Ranks()) == slice(0, 8)
    assert [local_rows(8, Ranks(r, 4)) for r in range(4)] == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    with pytest.raises(UserError, match="--batch 6 is the global batch: it must split evenly over the 4 processes"):
        local_rows(6, Ranks(0, 4))
