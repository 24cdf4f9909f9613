"""Data-parallel GAN training (gan.processes): 2 processes x batch 2 with gloo on the CPU train the
epoch that 1 process x batch 4 trains, and a killed 2-process epoch leaves nothing behind and
reruns to the same result. Small seeded networks (ngf/ndf 4) on random 16-32 px slices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dcesynth.errors import ConfigError
from dcesynth.models.pix2pixhd.networks import build_generator
from dcesynth.training import checkpoints as S
from dcesynth.training import epoch as T
from dcesynth.training.data import SlicePairs
from dcesynth.training.manifest import write_manifest
from dcesynth.training.distributed import World, run_epoch
from dcesynth.models.pix2pixhd.networks import biases_into_instance_norm, build_discriminator
from conftest import default_config, deep_update, TINY


def _slices(tmp_path: Path, n_slices: int, size: int) -> dict[str, dict[str, str]]:
    rng = np.random.default_rng(7)
    files: dict[str, dict[str, str]] = {}
    for case in ("c1", "c2"):
        (tmp_path / case).mkdir()
        pre = rng.integers(0, 200, (n_slices, size, size), dtype=np.uint8)
        for seq, arr in (("pre", pre), ("post1", np.clip(pre.astype(int) * 1.2 + 20, 0, 255))):
            np.save(tmp_path / case / f"{seq}.npy", arr.astype(np.uint8))
            files.setdefault(case, {})[seq] = str(tmp_path / case / f"{seq}.npy")
    write_manifest(files, tmp_path / "pairs.tsv")
    return files


def _cfg(global_batch: int) -> dict:
    cfg = deep_update(default_config(), TINY)["gan"]
    cfg = {k: v for k, v in cfg.items() if k not in ("eval_every", "eval_epochs", "preview", "run", "processes")}
    return deep_update(cfg, {"generator": {"ngf": 4}, "discriminator": {"ndf": 4}, "batch_size": global_batch})


def _one_process(tmp_path, files, cfg, tag="one") -> dict:
    T.train_epoch(tmp_path / "e0.pt", tmp_path / f"{tag}.pt", tmp_path / f"{tag}.tsv",
                  SlicePairs(files, "pre", ["post1"], 3), cfg, 1, "cpu", 1)  # fmt: skip
    return S.load_state(tmp_path / f"{tag}.pt")


def _assert_same_training(one: dict, two: dict, cfg: dict, size: int, start: dict) -> None:
    G = build_generator(**one["options"])
    D = build_discriminator(6, **cfg["discriminator"])
    for net, key in ((G, "generator"), (D, "discriminator")):
        diff = max((one[key][k] - two[key][k]).abs().max().item() for k in one[key] if one[key][k].is_floating_point())
        assert diff < 1e-4, (key, diff)  # every weight
        # the biases feeding an affine-free instance norm do not train (their gradient is float
        # noise; Adam would turn it into steps of ~lr that differ between the two runs)
        dead = biases_into_instance_norm(net)
        assert dead and all(torch.equal(one[key][k], start[key][k]) and torch.equal(two[key][k], start[key][k]) for k in dead)
    # the generators compute the same images
    x = torch.rand(2, 3, size, size) * 2 - 1
    outs = []
    for weights in (one["generator"], two["generator"]):
        G.load_state_dict(weights)
        with torch.no_grad():
            outs.append(G.eval()(x))
    assert (outs[0] - outs[1]).abs().max() < 1e-4


def test_world_shares_a_global_batch():
    shares = [[World(r, 2).share(n, 2) for r in range(2)] for n in (4, 3, 2, 1)]
    assert [[(s.start, s.stop) for s in row] for row in shares] == [
        [(0, 2), (2, 4)], [(0, 2), (2, 3)], [(0, 2), (2, 2)], [(0, 1), (1, 1)]]  # fmt: skip


def test_two_processes_of_batch_2_train_the_epoch_of_one_process_of_batch_4(tmp_path):
    files = _slices(tmp_path, 5, 16)  # 10 pairs: global batches of 4, 4 and 2 (rank 1 holds none of the last)
    cfg = _cfg(4)
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    with ThreadPoolExecutor(1) as pool:  # torchrun's start-up overlaps the one-process epoch
        two_processes = pool.submit(run_epoch, 2, state_in=str(tmp_path / "e0.pt"), state_out=str(tmp_path / "two.pt"),
                                    losses_out=str(tmp_path / "two.tsv"), manifest=str(tmp_path / "pairs.tsv"), cfg=cfg,
                                    epoch=1, device="cpu", threads=2)  # fmt: skip
        one = _one_process(tmp_path, files, cfg)
        two_processes.result(timeout=300)
    two = S.load_state(tmp_path / "two.pt")
    assert two["epoch"] == 1 and two["meta"]["processes"] == 2 and one["meta"]["processes"] == 1
    _assert_same_training(one, two, cfg, 16, S.load_state(tmp_path / "e0.pt"))
    # the loss table holds the global batch's losses, one row per global batch
    a, b = (pd.read_csv(tmp_path / f"{t}.tsv", sep="\t") for t in ("one", "two"))
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-5)
    assert not list(tmp_path.glob(".*.job.json"))


def _workers_alive(marker: tuple[str, ...]) -> list[int]:
    alive = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                if all(m in cmdline for m in marker):
                    alive.append(int(proc.name))
            except OSError:
                pass
    return alive


def test_a_killed_two_process_epoch_leaves_nothing_and_reruns_to_the_same_result(tmp_path, request):
    """Bit-identical to an epoch that was not killed, as a one-process epoch is (over 30 iterations
    the float drift between 1 x 4 and 2 x 2 outgrows 1e-4 in a few small weights, so the two
    process counts are compared on the short epoch above)."""
    _slices(tmp_path, 60, 16)  # 120 pairs, 30 global batches: long enough to be killed midway
    # no VGG19 loss: its seeded initialisation (143 M random numbers per process and start) is most
    # of a start here and has nothing to do with being killed (the test above trains with it)
    cfg = deep_update(_cfg(4), {"vgg": {"mode": "off"}})
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    job = dict(state_in=str(tmp_path / "e0.pt"), state_out=str(tmp_path / "two.pt"), losses_out=str(tmp_path / "two.tsv"),
               manifest=str(tmp_path / "pairs.tsv"), cfg=cfg, epoch=1, device="cpu", threads=2)  # fmt: skip
    # the epoch that is not killed runs beside the killed one (its own torchrun on a port of its own,
    # as two runs' epoch jobs do on one node): the two start-ups overlap
    pool = ThreadPoolExecutor(1)
    request.addfinalizer(pool.shutdown)  # a failed assertion below still waits for the epoch's thread
    whole = pool.submit(run_epoch, 2, **{**job, "state_out": str(tmp_path / "whole.pt"),
                                         "losses_out": str(tmp_path / "whole.tsv")})  # fmt: skip
    code = f"from dcesynth.training.distributed import run_epoch; run_epoch(2, **{job!r})"
    log = tmp_path / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=out)
    deadline = time.monotonic() + 120
    while "epoch 1:" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first progress line: rank 0 is inside the epoch
    time.sleep(0.5)
    assert proc.poll() is None, "the epoch ended before it could be killed:\n" + log.read_text()
    os.kill(proc.pid, signal.SIGKILL)  # only the job's own process, as a scheduler's OOM kill may
    proc.wait()
    whole.result(timeout=300)  # before the process scan: its workers carry the same marker
    # in the command lines of torchrun and of its workers, with the job file in tmp_path (another
    # test process may be training at the same moment)
    marker = ("dcesynth.training.worker", str(tmp_path))
    for _ in range(50):  # torchrun and its workers follow their parent (PR_SET_PDEATHSIG)
        if not _workers_alive(marker):
            break
        time.sleep(0.2)
    assert not _workers_alive(marker), "training processes outlived the killed job"
    assert not (tmp_path / "two.pt").exists() and not (tmp_path / "two.tsv").exists()
    run_epoch(2, **job)  # the rerun, as Snakemake would start it
    whole, rerun = S.load_state(tmp_path / "whole.pt"), S.load_state(tmp_path / "two.pt")
    for key in ("generator", "discriminator", "rng"):
        a, b = (whole[key], rerun[key]) if key != "rng" else ({"rng": whole[key]}, {"rng": rerun[key]})
        assert all(torch.equal(a[k], b[k]) for k in a), key
    assert (tmp_path / "whole.tsv").read_text() == (tmp_path / "two.tsv").read_text()
    assert not list(tmp_path.glob(".*.job.json"))  # the killed run's job file went with the rerun


def test_a_failing_process_fails_the_epoch_without_hanging(tmp_path, capfd):
    """Both processes refuse a global batch that does not divide among them; each exits at once
    (no wait for its peer in a collective), and the epoch fails with their message and writes nothing."""
    files = _slices(tmp_path, 2, 16)
    cfg = _cfg(3)
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    with pytest.raises(ConfigError, match="does not divide among 2 processes"):
        T.train_epoch(tmp_path / "e0.pt", tmp_path / "x.pt", tmp_path / "x.tsv", SlicePairs(files, "pre", ["post1"], 3),
                      cfg, 1, "cpu", 1, world=World(0, 2))  # fmt: skip
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="the 2 training processes failed"):
        run_epoch(2, state_in=str(tmp_path / "e0.pt"), state_out=str(tmp_path / "x.pt"), losses_out=str(tmp_path / "x.tsv"),
                  manifest=str(tmp_path / "pairs.tsv"), cfg=cfg, epoch=1, device="cpu", threads=2)  # fmt: skip
    assert time.monotonic() - start < 120
    assert "ERROR: a global batch of 3 does not divide among 2 processes" in capfd.readouterr().err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.tsv").exists()


def test_an_epoch_over_nodes_is_one_torchrun_agent_per_slurm_task(tmp_path):
    from dcesynth.training.distributed import allocation, check_allocation, launch_command

    cmd = launch_command(4, tmp_path / "job.json", nodes=2, endpoint="node1:29500", run_id="dcesynth-7-1", gpus=True,
                         cpus_per_node=8)  # fmt: skip
    assert cmd[:8] == ["srun", "--ntasks=2", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=8",
                       "--kill-on-bad-exit=1", "--export=ALL", "--gres=gpu:2"]  # fmt: skip
    assert {"--nnodes=2", "--nproc-per-node=2", "--rdzv-backend=c10d", "--rdzv-endpoint=node1:29500",
            "--rdzv-id=dcesynth-7-1"} <= set(cmd)  # fmt: skip
    # an allocation of fewer nodes (the single-node test cluster): the tasks are not pinned to nodes
    assert "--nodes=2" not in launch_command(2, "job.json", nodes=2, spread=False)
    assert "--standalone" in launch_command(2, "job.json") and "srun" not in launch_command(2, "job.json")
    # refused outside a SLURM job, or in one with fewer tasks than nodes
    assert allocation({}) == {}
    with pytest.raises(ConfigError, match="no SLURM job"):
        check_allocation(2, {})
    with pytest.raises(ConfigError, match="a SLURM job with 1 task"):
        check_allocation(2, {"nodes": 1, "tasks": 1})
    check_allocation(2, {"nodes": 1, "tasks": 2})
    cfg = _cfg(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    code = ("from dcesynth.training.distributed import run_epoch; "
            f"run_epoch(2, nodes=2, state_in='e0.pt', state_out='x.pt', losses_out='x.tsv', manifest='m.tsv', cfg={cfg!r}, "
            "epoch=1, device='cpu', threads=1)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "gan.nodes: 2 trains one epoch across 2 nodes" in proc.stderr
    with pytest.raises(ConfigError, match="multiple of gan.nodes"):
        run_epoch(3, nodes=2, state_out=str(tmp_path / "y.pt"))

