"""Data-parallel loading: fastaug.torch.distributed_shard and Loader(shard=...) under a
real two-process ``torch.distributed`` run (gloo backend, CPU).

Each rank iterates its shard for two epochs and saves the sample ids and augmented
batches it got; the test checks that the shards of an epoch are disjoint and together
cover the data once, that every rank followed the single-process permutation of that
epoch, and that each sample was augmented exactly as a single-process call with the
same sample ids augments it.
"""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest

import fastaug as fa
from fastaug.loader import Loader

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
mp = pytest.importorskip("torch.multiprocessing")
from fastaug.torch import distributed_shard  # noqa: E402 - needs torch

N, WORLD, EPOCHS, BATCH = 21, 2, 2, 4
TIMEOUT = 120.0


def make_images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (N, 20, 24, 3), dtype=np.uint8)


def make_pipeline() -> fa.Compose:
    return fa.Compose([fa.RandomResizedCrop(16, scale=(0.3, 1.0)), fa.HorizontalFlip(),
                       fa.ColorJitter(0.4, 0.4, 0.4)], seed=17)


def make_loader(shard) -> Loader:
    # The sample id is the label, so each rank reports which samples it got.
    return Loader(make_images(), np.arange(N), batch_size=BATCH, augment=make_pipeline(),
                  seed=3, shard=shard, workers=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank: int, world: int, port: int, out_dir: str) -> None:
    """One process of the run (a module-level function: spawn pickles it by name)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        shard = distributed_shard()
        loader = make_loader(shard)
        for epoch in range(EPOCHS):
            loader.set_epoch(epoch)
            ids, images = [], []
            for x, y in loader:
                images.append(x)
                ids.append(y)
            np.savez(os.path.join(out_dir, f"rank{rank}-epoch{epoch}.npz"),
                     shard=np.array(shard), ids=np.concatenate(ids),
                     images=np.concatenate(images))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_run(tmp_path):
    ctx = mp.spawn(rank_main, args=(WORLD, free_port(), str(tmp_path)), nprocs=WORLD,
                   join=False)
    deadline = time.monotonic() + TIMEOUT
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the distributed run did not finish in {TIMEOUT} s")

    images = make_images()
    single = make_loader(None)
    shards = -(-N // WORLD)  # samples per rank, padded
    for epoch in range(EPOCHS):
        perm = single.indices(epoch)
        assert sorted(perm) == list(range(N))
        got = [np.load(tmp_path / f"rank{r}-epoch{epoch}.npz") for r in range(WORLD)]
        ids = [g["ids"] for g in got]
        for r in range(WORLD):
            assert tuple(got[r]["shard"]) == (r, WORLD)  # from the process group
            assert len(ids[r]) == shards
        # Complete and disjoint (N is odd: exactly one sample is repeated as padding,
        # the first of the permutation, like DistributedSampler).
        everything = np.concatenate(ids)
        assert set(everything.tolist()) == set(range(N))
        values, counts = np.unique(everything, return_counts=True)
        assert values[counts > 1].tolist() == [perm[0]] and counts.max() == 2
        # Every rank took its stride of the same permutation.
        padded = np.concatenate([perm, perm[: WORLD * shards - N]])
        for r in range(WORLD):
            np.testing.assert_array_equal(ids[r], padded[r::WORLD])
        # Augmented exactly as one process augments these samples in this epoch.
        aug = make_pipeline()
        aug.set_epoch(epoch)
        for r in range(WORLD):
            want = aug(images[ids[r]], indices=ids[r])
            np.testing.assert_array_equal(got[r]["images"], want)
    # A new permutation each epoch.
    assert not np.array_equal(single.indices(0), single.indices(1))


def test_distributed_shard_from_the_environment(monkeypatch):
    assert not dist.is_initialized()
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_shard() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed_shard() == (3, 4)
    for rank, world, match in (("4", "4", "0 <= RANK < WORLD_SIZE"),
                               ("-1", "4", "0 <= RANK"), ("0", "0", "0 <= RANK"),
                               ("a", "4", "must be integers")):
        monkeypatch.setenv("RANK", rank)
        monkeypatch.setenv("WORLD_SIZE", world)
        with pytest.raises(ValueError, match=match):
            distributed_shard()
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ValueError, match="WORLD_SIZE is not set"):
        distributed_shard()
    with pytest.raises(ValueError, match="not initialised"):
        distributed_shard(group=object())


def test_shuffled_shards_need_a_seed():
    x = make_images()
    with pytest.raises(ValueError, match="seed is required"):
        Loader(x, batch_size=4, shard=(0, 2))
    # Without shuffling (or with one rank) the order needs no seed.
    assert Loader(x, batch_size=4, shard=(1, 2), shuffle=False).indices()[:3].tolist() == [1, 3, 5]
    Loader(x, batch_size=4, shard=(0, 1))
