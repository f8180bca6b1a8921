"""Distributed data parallel helpers: the same trainer runs under ``torchrun --nproc_per_node N`` (gloo on CPU,
NCCL on CUDA) or as a single plain process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes files and prints progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            gpus = torch.cuda.device_count()
            if local >= gpus:  # NCCL wants one GPU per process; torch's own error here is a bare CUDA one
                raise ConfigError(
                    f"process {local} of this machine needs a GPU of its own and the machine has {gpus}: start "
                    f"torchrun with --nproc_per_node {gpus} or fewer, or train on the CPU (--device cpu, gloo)",
                    field="--nproc_per_node",
                )
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def shutdown_distributed(exit_code: int | None = None) -> None:
    """Leave the process group together: a barrier first, so that no rank tears its connections down while
    another is still talking (gloo then aborts the slower rank).

    With ``exit_code``, a rank that was in a process group then ends at once with that code (stdout and stderr
    flushed, ``os._exit``). DistributedDataParallel keeps the gloo process group alive in C++ after
    ``destroy_process_group`` (torch 2.13: its worker threads keep running), and its teardown among the interpreter's
    final C++ destructors aborted a rank now and then ("terminate called without an active exception", 4 of 50
    two-process runs on a loaded 2-core machine). Every file of the run is written atomically and closed before
    this point, so nothing is lost by skipping that teardown. A single process returns normally.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    if exit_code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(value: float, info: DistInfo, device: torch.device) -> float:
    """Mean of a float over all processes."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


class ResumableSampler(torch.utils.data.Sampler[int]):
    """A deterministic shuffled sampler that can start mid-epoch and shards across processes.

    The order of epoch ``e`` is a permutation drawn from ``seed + e``; each process takes every ``world_size``-th
    index (padding the permutation so all processes see the same number of samples, like DistributedSampler).
    ``start_batch`` skips the batches this process already consumed, so a resumed run sees exactly the samples an
    uninterrupted one would.
    """

    def __init__(self, size: int, batch_size: int, seed: int = 0, shuffle: bool = True, info: DistInfo | None = None):
        if size <= 0:
            raise ValueError("cannot sample from an empty dataset")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.info = info or DistInfo()
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start_batch = start_batch

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        world = self.info.world_size
        total = -(-self.size // world) * world
        order += order[: total - len(order)]
        return order[self.info.rank : total : world]

    def batches_per_epoch(self) -> int:
        """Full batches per epoch for this process (the last, partial batch is dropped)."""
        return len(self._indices()) // self.batch_size

    def __iter__(self) -> Iterator[int]:
        idx = self._indices()
        usable = (len(idx) // self.batch_size) * self.batch_size
        return iter(idx[self.start_batch * self.batch_size : usable])

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start_batch) * self.batch_size
