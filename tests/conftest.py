"""Shared fixtures: the repository, the shared data folder, tiny configs and a workflow runner."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The tiny phantom cohort of the integration tests: 6 small cases, 2 post-contrast phases, and a
# small seeded pix2pixHD (ngf 8, 2 downsamplings, 1 residual block, random VGG19) trained 4 epochs.
TINY = {
    "data": {"post_phases": 2},
    "phantom": {
        "n_cases": 6,
        "rows": [24, 28],
        "cols": [30, 36],
        "slices": [8, 10],
        "pixel_spacing_mm": [8.0, 9.0],
        "slice_thickness_mm": [13.0, 15.0],
        "post_phases": 2,
        "mask_fraction": 0.67,
        "multifocal_fraction": 0.0,
    },
    "n4": {"iterations": [10, 10]},
    "slices": {"size": 32},
    "splits": {"n_folds": 2, "test_fraction": 0.6},
    "report": {"example_cases": 2},
    "device": "cpu",
    "gan": {
        "run": "tiny",
        "generator": {"ngf": 8, "n_downsample_global": 2, "n_blocks_global": 1},
        "discriminator": {"ndf": 8, "n_layers_D": 2, "num_D": 2},
        "niter": 2,
        "niter_decay": 2,
        "batch_size": 2,
        "eval_every": 2,
    },
    "metrics": {"n_pixel_pairs": 40, "n_fid_pairs": 8},
    # nnU-Net's real planning, training (2 epochs of 10 iterations) and fold ensemble, on two of
    # the paper's training sets: the baseline and its synthetic augmentation, three test rows.
    "segmentation": {"trainer": "nnUNetTrainer_dcesynth_tiny"},
    "resources": {"train_gan_epoch": {"threads": 1}, "preview_gan": {"threads": 1}},
}


def deep_update(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


TINY_SCENARIOS = {
    "real_pre": {"id": 501, "test_on": ["real_pre", "real_post"]},
    "real_pre+syn_post": {"id": 502, "test_on": ["real_post"]},
}


def tiny_config(**overrides) -> dict:
    cfg = deep_update(default_config(), TINY)
    cfg["segmentation"]["scenarios"] = TINY_SCENARIOS  # replaced, not merged with the paper's seven
    return deep_update(cfg, overrides)


def make_workdir(path: Path, config: dict) -> Path:
    """A working directory as a user would have it: config/config.yaml (+ the shipped configs)."""
    (path / "config").mkdir(parents=True, exist_ok=True)
    for f in (REPO / "config").glob("*.yaml"):
        shutil.copy(f, path / "config" / f.name)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (the project's shared data) is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow run once on the tiny phantom cohort, with its report."""
    wd = make_workdir(tmp_path_factory.mktemp("tiny_run"), tiny_config())
    run_snakemake(wd, "--cores", "2")
    run_snakemake(wd, "--report", "report.html")
    return wd
