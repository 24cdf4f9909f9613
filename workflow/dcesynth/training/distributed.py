"""Data-parallel training: one epoch in N processes that mean the same training as one (a family
that declares ``processes``: pix2pixHD).

``gan.processes: N`` runs a training epoch in N processes with ``torch.distributed`` (gloo on the
CPU; NCCL on CUDA, one GPU per process), launched by the training job itself with ``torchrun``: on
its node (``--standalone``), or with ``gan.nodes: M`` as M torchrun agents of N / M processes each,
one per task of the job's SLURM allocation (``srun``), that meet at a c10d rendezvous on the job's
first node. ``gan.batch_size`` is per process, and the epoch is defined by the global batch
``N x batch_size``:

- the sample order is that of one process with the global batch (same permutation, same
  rotations), and process ``r`` takes the ``r``-th ``batch_size`` samples of each global batch;
- the gradients of each network are summed over the processes, each weighted by its share of the
  global batch (``n_r / n``), so every process steps with the gradient of the global batch mean
  (exact also for a short last batch, where a process may hold no sample at all);
- the logged losses are reduced the same way, and only rank 0 writes the state and the losses.

So a run can move between 1 x 4 and 2 x 2 and the epoch's result is the same within float
tolerance (``tests/test_distributed.py``); a killed epoch writes nothing and reruns from the state
before it, as a one-process epoch does. The reduction is written out (one all-reduce of one flat
buffer per network and step) rather than left to ``DistributedDataParallel``, whose reducer expects
one backward pass per forward pass: a pix2pixHD iteration runs the discriminator three times and
backpropagates two losses through it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch

from ..devices import resolve_device
from ..errors import ConfigError
from .lifeline import die_with_parent
from .world import World


def launch_command(processes: int, job_file: str | Path, nodes: int = 1, endpoint: str = "", run_id: str = "",
                   gpus: bool = False, cpus_per_node: int = 1, spread: bool = True) -> list[str]:  # fmt: skip
    """The command that starts one epoch's ``processes``: torchrun on this node (``--standalone``: a
    free local port), or with ``nodes`` > 1 one torchrun agent per SLURM task (``srun``), each with
    ``processes / nodes`` workers and ``cpus_per_node`` CPUs, meeting at the c10d ``endpoint``
    (host:port) under ``run_id``; ``spread``: one task on each node of the allocation (a test
    cluster of one node runs both tasks on it); ``gpus``: each task takes its node's share of GPUs."""
    worker = ["--max-restarts=0", "-m", "dcesynth.training.worker", str(job_file)]
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    if nodes == 1:
        return [*torchrun, "--standalone", f"--nproc-per-node={processes}", *worker]
    per_node = processes // nodes
    srun = ["srun", f"--ntasks={nodes}", *([f"--nodes={nodes}", "--ntasks-per-node=1"] if spread else []),
            f"--cpus-per-task={cpus_per_node}", "--kill-on-bad-exit=1", "--export=ALL",
            *([f"--gres=gpu:{per_node}"] if gpus else [])]  # fmt: skip
    return [*srun, *torchrun, f"--nnodes={nodes}", f"--nproc-per-node={per_node}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={endpoint}", f"--rdzv-id={run_id}", *worker]  # fmt: skip


def allocation(environ: dict | None = None) -> dict[str, int]:
    """This SLURM job's ``nodes`` and ``tasks``, from ``scontrol`` (a job Snakemake's SLURM plugin
    runs sees no SLURM variable but the job id); empty outside a SLURM job."""
    env = os.environ if environ is None else environ
    job = env.get("SLURM_JOB_ID")
    if not job:
        return {}
    out = subprocess.run(["scontrol", "show", "job", "--oneliner", job], capture_output=True, text=True, timeout=60)
    fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
    if out.returncode != 0 or "NumNodes" not in fields:
        raise RuntimeError(f"scontrol show job {job} failed: {out.stderr.strip() or out.stdout.strip()}")
    return {"nodes": int(fields["NumNodes"].split("-")[0]), "tasks": int(fields.get("NumTasks", "1") or 1)}


def check_allocation(nodes: int, found: dict[str, int]) -> None:
    """Refuse an epoch over ``nodes`` nodes outside a SLURM job (``found`` = :func:`allocation`)
    with a task for each."""
    if not found or found["tasks"] < nodes:
        where = f"a SLURM job with {found['tasks']} task(s)" if found else "no SLURM job"
        raise ConfigError(f"gan.nodes: {nodes} trains one epoch across {nodes} nodes, one SLURM task on each, but this "
                          f"job runs in {where}: run the workflow with --workflow-profile profiles/slurm, or set "
                          "gan.nodes: 1")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def run_epoch(processes: int, nodes: int = 1, **job: Any) -> None:
    """Train one epoch in ``processes`` processes, on this node or over ``nodes`` nodes of this SLURM
    job; ``job``: the keyword arguments of :func:`dcesynth.training.epoch.train_epoch` with ``manifest`` (a
    slice-pair manifest) in place of ``pairs``. The workers write where this process's stderr goes
    (a rule's log)."""
    if processes % nodes:
        raise ConfigError(f"gan.processes ({processes}) must be a multiple of gan.nodes ({nodes})")
    rendezvous = {}
    if nodes > 1:  # this process runs on the allocation's first node: the rendezvous is here
        found = allocation()
        check_allocation(nodes, found)
        rendezvous = {"endpoint": f"{socket.gethostname()}:{_free_port()}",
                      "run_id": f"dcesynth-{os.environ['SLURM_JOB_ID']}-{os.getpid()}",
                      "gpus": resolve_device(job.get("device", "cpu")).type == "cuda",
                      "cpus_per_node": max(1, int(job.get("threads", 1))), "spread": found["nodes"] >= nodes}  # fmt: skip
    state_out = Path(job["state_out"])
    state_out.parent.mkdir(parents=True, exist_ok=True)
    # beside the state (the file system every node of the job sees), not in a node's /tmp; a killed
    # run of this epoch left its own there
    for stale in state_out.parent.glob(f".{state_out.name}.*.job.json"):
        stale.unlink(missing_ok=True)
    fd, job_file = tempfile.mkstemp(prefix=f".{state_out.name}.", suffix=".job.json", dir=state_out.parent)
    with os.fdopen(fd, "w") as f:
        json.dump({k: str(v) if isinstance(v, Path) else v for k, v in job.items()}, f)
    job_file = Path(job_file)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, int(job.get("threads", 1)) // (processes // nodes)))}
    # the workers import dcesynth from wherever this process did (an installed or a source tree)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    try:
        out = sys.stderr.fileno()
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # a stream without a file (a test's capture)
        out = None
    try:
        # torchrun dies with this process, and its workers with it (a killed job leaves nothing running)
        proc = subprocess.Popen(launch_command(processes, job_file, nodes, **rendezvous), env=env, stdout=out,
                                stderr=out, preexec_fn=die_with_parent)  # fmt: skip
        try:
            rc = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait(timeout=30)
            raise
    finally:
        job_file.unlink(missing_ok=True)
    if rc != 0:
        where = f" on {nodes} nodes" if nodes > 1 else ""
        raise RuntimeError(f"the {processes} training processes{where} failed (exit {rc}); their messages are above")
    if not state_out.exists():
        raise RuntimeError(f"the {processes} training processes ended without writing {state_out}")


def worker(job_file: str) -> None:
    """One training process (``python -m dcesynth.training.worker JOB``; rank from torchrun's environment).
    A failing process exits at once, without waiting for its peers (torchrun then stops them)."""
    import traceback

    from ..errors import InputError

    try:
        _train(job_file)
    except BaseException as e:  # noqa: BLE001 - reported here; the exit code tells torchrun
        if isinstance(e, (ConfigError, InputError)):
            sys.stderr.write(f"ERROR: {e}\n")
        else:
            traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    torch.distributed.destroy_process_group()


def _train(job_file: str) -> None:
    from .. import logs
    from .data import training_pairs
    from .manifest import read_manifest
    from .epoch import train_epoch

    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    job = json.loads(Path(job_file).read_text())
    logs.setup(None)
    if not world.main:
        logs.log.setLevel("ERROR")
    cuda = resolve_device(job["device"]).type == "cuda"
    if cuda:
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"gan.processes: {world.size} trains with one GPU per process, but this job sees "
                              f"{torch.cuda.device_count()} (did a --set-resources override the rule's gpu?)")  # fmt: skip
        torch.cuda.set_device(world.local_rank)
    torch.distributed.init_process_group("nccl" if cuda else "gloo", rank=world.rank, world_size=world.size,
                                         timeout=timedelta(minutes=30))  # fmt: skip
    agents = int(os.environ.get("GROUP_WORLD_SIZE", 1))  # torchrun's agents: one per node
    logs.log.info("process group: %d processes, %d per node on %d node%s (%s)", world.size, world.size // agents,
                  agents, "s" if agents > 1 else "", "nccl" if cuda else "gloo")  # fmt: skip
    cfg = job["cfg"]
    pairs = training_pairs(read_manifest(job.pop("manifest")), cfg)
    train_epoch(pairs=pairs, world=world, **job)
