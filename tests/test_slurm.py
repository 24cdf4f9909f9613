"""The tiny workflow through a real single-node SLURM with the shipped profile (integration layer).

``tests/slurm/start.sh`` installs Debian's slurm packages when missing (root and the Debian
registry needed) and starts slurmctld/slurmd on 127.0.0.1; ``stop.sh`` stops them. Where that is
impossible the tests skip, except under CI (``CI=true``), where a missing SLURM is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, make_workdir, tiny_config

pytestmark = pytest.mark.integration

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


def test_tiny_workflow_runs_through_slurm(slurm, tmp_path):
    # each GAN epoch in 2 data-parallel processes (gloo), one sbatch job per epoch: the tiny run's
    # global batch of 2 as 2 x 1, for 2 epochs. One segmentation scenario, with synthetic training
    # images, tested on both domains. (The other scenarios and the DICOM export, more jobs of kinds
    # already here, are tested without SLURM.)
    gan = {"processes": 2, "batch_size": 1, "niter": 1, "niter_decay": 1}
    cfg = tiny_config(gan=gan, resources={"train_gan_epoch": {"threads": 2}}, export={"dicom": {"enabled": False}})
    cfg["segmentation"]["scenarios"] = {"real_pre+syn_post": {"id": 502, "test_on": ["real_pre", "real_post"]}}
    wd = make_workdir(tmp_path, cfg)
    proc = _snakemake(wd, slurm, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    for out in ("results/tables/tiny/table1.tsv", "results/tables/tiny/segmentation.tsv",
                "results/metrics/tiny/best_epoch.json", "results/figures/tiny/synthesis_grid.png"):
        assert (wd / out).exists(), out
    table = pd.read_csv(wd / "results" / "tables" / "tiny" / "segmentation.tsv", sep="\t")
    assert len(table) == 2
    # every job but the target rule went through sbatch (the plugin deletes the SLURM logs of
    # successful jobs, so Snakemake's own run log is the record)
    run_log = sorted((wd / ".snakemake" / "log").glob("*.snakemake.log"))[-1].read_text()
    local = set(re.findall(r"^localrule (\w+):", run_log, re.M))
    submitted = re.findall(r"^Job \d+ has been submitted with SLURM jobid \d+", run_log, re.M)
    assert local == {"all"}, local
    assert len(submitted) == len(re.findall(r"^rule \w+:", run_log, re.M)) > 40
    for rule in ("make_phantom", "ingest", "train_gan_epoch", "synthesize_volume", "nnunet_plan", "nnunet_train",
                 "nnunet_predict", "segmentation_tables"):
        assert f"rule {rule}:" in run_log, rule
    epoch_log = (wd / "logs" / "train_gan_epoch" / "tiny" / "epoch_1.log").read_text()
    assert "global batch 2 in 2 processes" in epoch_log and "(2 processes)" in epoch_log, epoch_log[-2000:]
    # and the workflow is complete: nothing left to do
    dry = _snakemake(wd, slurm, "-n", timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


def test_a_failing_slurm_job_fails_the_run(slurm, tmp_path):
    wd = make_workdir(tmp_path, tiny_config())
    ok = _snakemake(wd, slurm, "data/phantom/dicom/Phantom_002", timeout=600)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    dce = [p for p in (wd / "data" / "phantom" / "dicom" / "Phantom_002").rglob("1-003.dcm")
           if re.search("dyn|vibrant", p.parent.name, re.I)]
    victim = sorted(dce)[0]
    victim.write_bytes(victim.read_bytes()[:-300])  # pixel data cut short
    start = time.monotonic()
    proc = _snakemake(wd, slurm, "results/nifti/Phantom_002/pre.nii.gz", timeout=600)
    assert proc.returncode != 0
    assert time.monotonic() - start < 300  # failed, did not hang
    out = proc.stdout + proc.stderr
    assert "Error in rule ingest" in out and "truncated" in out
