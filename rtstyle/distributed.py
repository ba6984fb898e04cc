"""Training under torchrun: this process's rank, its share of the batch, the averaged loss."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .errors import UserError


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job: rank 0 of 1 when run alone."""

    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls) -> Ranks:
        """From torchrun's RANK and WORLD_SIZE."""
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def start_distributed(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the torchrun job described by the environment (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU.

    Each process on a GPU machine takes the GPU of its LOCAL_RANK.
    """
    ranks = Ranks.from_env()
    if ranks.world <= 1:
        return ranks, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ranks, device


def data_parallel(net: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """`net` itself when alone; in a torchrun job, wrapped so its gradients are averaged over the ranks."""
    if ranks.world == 1:
        return net
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


@contextlib.contextmanager
def rank_zero_first(ranks: Ranks) -> Iterator[None]:
    """Run the block on rank 0, then on the others (which find what rank 0 cached)."""
    if ranks.rank:
        torch.distributed.barrier()
    yield
    if ranks.world > 1 and not ranks.rank:
        torch.distributed.barrier()


def stop_distributed() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def local_rows(batch: int, ranks: Ranks) -> slice:
    """This rank's share of a global batch of `batch` crops."""
    if batch % ranks.world:
        raise UserError(f"--batch {batch} is the global batch: it must split evenly over the {ranks.world} processes")
    share = batch // ranks.world
    return slice(ranks.rank * share, (ranks.rank + 1) * share)


def mean_over_ranks(terms: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, torch.Tensor]:
    """The loss terms of the global batch: each rank's (equal-sized) share averaged."""
    if ranks.world == 1:
        return terms
    values = torch.stack([v.detach().float() for v in terms.values()])
    torch.distributed.all_reduce(values)
    return dict(zip(terms, values / ranks.world))


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when it is true on one (so all of them stop at the same step)."""
    if ranks.world == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item())
