"""The tiny workflow through a real single-node SLURM with the shipped profile (integration layer).

``tests/slurm/start.sh`` installs Debian's slurm packages when missing (root and the Debian
registry needed) and starts slurmctld/slurmd on 127.0.0.1; ``stop.sh`` stops them. Where that is
impossible the tests skip, except under CI (``CI=true``), where a missing SLURM is a failure.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import REPO, make_workdir, tiny_config

# long: the status checks of a SLURM run are most of its time, spent waiting; the tests share one
# SLURM (a module fixture), so they run in one test process (conftest)
pytestmark = [pytest.mark.integration, pytest.mark.long]

SLURM_DIR = Path(os.environ.get("SLURM_TEST_DIR", "/tmp/dcesynth-slurm"))
PROFILE = REPO / "profiles" / "slurm"
# The shipped profile, with status checks tightened for a cluster that answers at once.
FAST = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2", "--latency-wait", "5"]


@pytest.fixture(scope="module")
def slurm():
    proc = subprocess.run(["bash", str(REPO / "tests" / "slurm" / "start.sh")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "SLURM_TEST_DIR": str(SLURM_DIR)})
    if proc.returncode != 0:
        message = f"single-node SLURM did not start: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "SLURM_CONF": str(SLURM_DIR / "slurm.conf"), "PYTHONUNBUFFERED": "1"}
    yield env
    subprocess.run(["bash", str(REPO / "tests" / "slurm" / "stop.sh")], env=env, timeout=120)


def _snakemake(wd: Path, env: dict, *args: str, timeout: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(wd),
           "--workflow-profile", str(PROFILE), *FAST, *args]
    return subprocess.run(cmd, cwd=wd, env=env, capture_output=True, text=True, timeout=timeout)


def _submitted_rules(wd: Path, proc: subprocess.CompletedProcess) -> set[str]:
    """The rules of a finished run, each of whose jobs went through sbatch (the plugin deletes the
    SLURM logs of successful jobs, so Snakemake's own run log is the record)."""
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    run_log = sorted((wd / ".snakemake" / "log").glob("*.snakemake.log"))[-1].read_text()
    assert not re.findall(r"^localrule (\w+):", run_log, re.M)
    rules = re.findall(r"^rule (\w+):", run_log, re.M)
    assert len(re.findall(r"^Job \d+ has been submitted with SLURM jobid \d+", run_log, re.M)) == len(rules) > 0
    return set(rules)


def test_jobs_of_every_stage_run_through_slurm(slurm, tmp_path, tiny_run):
    """Jobs of every stage, each one SLURM job through the shipped profile, on a copy of the tiny run
    made stale (the rest of the copy is up to date): a test case from its ingested volumes to its
    synthetic volume and its nnU-Net prediction and metrics, one nnU-Net fold retrained; then the
    GAN's training chain to epoch 2 with each epoch in 2 data-parallel processes (gloo): the
    run's global batch of 2 as 2 x 1, one sbatch job per epoch; and a case from its phantom DICOM."""
    from conftest import TINY_MODELS, copy_of_run, tiny_config

    gan = {"processes": 2, "batch_size": 1}  # the same global batch: the same training (no rerun)
    cfg = tiny_config(models=TINY_MODELS, gan=gan, resources={"train_epoch": {"threads": 2}})
    wd = make_workdir(copy_of_run(tiny_run, tmp_path / "wd"), cfg)
    synthesis = pd.read_csv(wd / "results/splits/synthesis.tsv", sep="\t")
    seg = pd.read_csv(wd / "results/splits/segmentation.tsv", sep="\t")
    # a case the GAN neither trained nor chose its epoch on, that nnU-Net neither trained nor validated on:
    # its ingested volumes written again (the same image, other gzip bytes: Snakemake reruns on a new
    # checksum, not on a touched file) and one of nnU-Net's folds deleted
    case = sorted(set(synthesis.query("split == 'test'")["case_id"]) & set(seg.query("role == 'test'")["case_id"]))[0]
    for volume in (wd / "results/nifti" / case).glob("*.nii.gz"):
        volume.write_bytes(gzip.compress(gzip.decompress(volume.read_bytes()), compresslevel=1, mtime=time.time()))
    fold = next((wd / "results/segmentation/tiny/real_pre/nnUNet_results").glob("Dataset501_*/*__*")) / "fold_0"
    (fold / "checkpoint_final.pth").unlink()
    targets = [f"results/synthetic/tiny/{case}/post1.nii.gz", "results/segmentation/tiny/real_pre/metrics_real_pre.tsv"]
    rules = _submitted_rules(wd, _snakemake(wd, slurm, *targets, timeout=1200))
    assert rules >= {"n4_bias_correction", "extract_slices", "synthesize_volume", "crop_breast", "nnunet_test_images",
                     "nnunet_train", "nnunet_predict", "segmentation_metrics"}, rules  # fmt: skip
    # nothing else: no GAN trained, no epoch scored, nnU-Net's other fold and its plans kept
    assert not rules & {"train_epoch", "evaluate_epoch", "select_best_epoch", "nnunet_plan"}, rules
    assert case in set(pd.read_csv(wd / targets[1], sep="\t")["case_id"])
    dry = _snakemake(wd, slurm, "-n", *targets, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    # the GAN's training chain from its start, each epoch a job of 2 processes; and the case from
    # its phantom DICOM series (deleted with its volumes)
    for folder in ("results/models/tiny/state", "results/models/tiny/generator", "logs/train_epoch/tiny",
                   f"data/phantom/dicom/{case}", f"results/nifti/{case}"):  # fmt: skip
        shutil.rmtree(wd / folder)
    target = "results/models/tiny/generator/epoch_2.pt"
    rules = _submitted_rules(wd, _snakemake(wd, slurm, target, f"results/nifti/{case}/pre.nii.gz", timeout=1200))
    assert rules == {"init_model", "train_epoch", "export_generator", "make_phantom", "ingest"}, rules
    epoch_log = (wd / "logs" / "train_epoch" / "tiny" / "epoch_1.log").read_text()
    assert "global batch 2 in 2 processes" in epoch_log and "(2 processes)" in epoch_log, epoch_log[-2000:]
    assert torch.load(wd / target, weights_only=True)["epoch"] == 2


def test_a_failing_slurm_job_fails_the_run(slurm, tmp_path, tiny_run):
    """A DICOM file of a finished run's case cut short, its volumes deleted: the ingest job fails in
    SLURM, and the run fails with its message rather than hanging."""
    from conftest import copy_of_run

    wd = copy_of_run(tiny_run, tmp_path / "wd")
    dce = [p for p in (wd / "data" / "phantom" / "dicom" / "Phantom_002").rglob("1-003.dcm")
           if re.search("dyn|vibrant", p.parent.name, re.I)]
    victim = sorted(dce)[0]
    victim.write_bytes(victim.read_bytes()[:-300])  # pixel data cut short
    shutil.rmtree(wd / "results" / "nifti" / "Phantom_002")
    start = time.monotonic()
    proc = _snakemake(wd, slurm, "results/nifti/Phantom_002/pre.nii.gz", timeout=600)
    assert proc.returncode != 0
    assert time.monotonic() - start < 300  # failed, did not hang
    out = proc.stdout + proc.stderr
    assert "Error in rule ingest" in out and "truncated" in out


def test_an_epoch_over_two_nodes_meets_at_one_rendezvous(slurm, tmp_path):
    """gan.nodes: 2 as a SLURM job of two tasks: each task is a torchrun agent of one process
    (srun), they meet at the c10d rendezvous the job opens on its first node, and they train the
    epoch that one process with the global batch trains. The test cluster has one node, so both
    tasks run on it; on a cluster each gets a node of its own (the rule asks for --nodes=2)."""
    from test_distributed import _assert_same_training, _cfg, _one_process, _slices

    from dcesynth.training import checkpoints as S
    from dcesynth.training import epoch as T

    files = _slices(tmp_path, 5, 16)  # writes pairs.tsv: 10 pairs, global batches of 2
    cfg = _cfg(2)
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    one = _one_process(tmp_path, files, cfg)
    job = dict(state_in=str(tmp_path / "e0.pt"), state_out=str(tmp_path / "nodes.pt"), losses_out=str(tmp_path / "nodes.tsv"),
               manifest=str(tmp_path / "pairs.tsv"), cfg=cfg, epoch=1, device="cpu", threads=1)  # fmt: skip
    script = tmp_path / "epoch.py"
    # as Snakemake's SLURM jobstep runs a job: every SLURM variable but the job id removed
    script.write_text("import os\n"
                      "for k in [k for k in os.environ if k.startswith(('SLURM_', 'SRUN_')) and k != 'SLURM_JOB_ID']:\n"
                      "    del os.environ[k]\n"
                      f"from dcesynth.training.distributed import run_epoch\nrun_epoch(2, nodes=2, **{job!r})\n")  # fmt: skip
    log = tmp_path / "slurm.log"
    proc = subprocess.run(["sbatch", "--wait", "--nodes=1", "--ntasks=2", "--cpus-per-task=1", "--mem=3000", "-t", "10",
                           "-o", str(log), "-D", str(tmp_path), "--wrap", f"{sys.executable} {script}"],  # fmt: skip
                          env=slurm, capture_output=True, text=True, timeout=600)
    out = log.read_text() if log.exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + out[-4000:]
    assert "2 processes, 1 per node on 2 nodes" in out and "(2 processes)" in out, out[-4000:]
    _assert_same_training(one, S.load_state(tmp_path / "nodes.pt"), cfg, 16, S.load_state(tmp_path / "e0.pt"))
