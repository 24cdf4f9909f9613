"""Paper-scale rehearsal: config/duke.yaml on a few Duke-sized phantom cases, through every rule.

    python -m dcesynth.bench.paper_scale [--workdir DIR] [--cores 2]

Writes four phantom cases at Duke's size (448² and 512² in-plane, 0.7 mm pixels, 1.1 mm slices,
100+ slices; one GAN training case, two segmentation cross-validation cases, one test case, named
after Duke cases of those roles in the authors' split sheet) as a TCIA-style DICOM tree, then runs
``snakemake --configfile config/duke.yaml site.yaml`` where ``site.yaml`` changes only counts and
places: the data root, one GAN epoch of a few pairs, two segmentation folds (the schema's minimum)
with a short nnU-Net trainer (one epoch of two iterations), one of the seven training sets (the largest: real pre, real post
and synthetic post of every case), no test-time mirroring (8× prediction time, the
same memory), and every pretrained network as a seeded random state dict written here (same
shapes as the real files, so the same memory and time). Everything else is the paper's: 512 px
slices, the full pix2pixHD, 5000/3000/2000 metric pairs (capped by the slices there are), TF-GAN
Inception, RadImageNet, LPIPS, FRD, nnU-Net 3d_fullres at 1 mm.

Prints wall time and peak memory (max RSS) per rule from Snakemake's benchmark files, the whole
run's wall time, and writes them to ``DIR/paper_scale.tsv``. The figures say what one job of each
rule needs at paper resolution before anyone books a GPU; per-case rules scale with the cases.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from .. import phantom

REPO = Path(__file__).resolve().parents[3]

# (in-plane size, slices) of the four cases, and the role each plays in the Duke split sheet.
CASE_SHAPES = {"train": (512, 104), "cv0": (448, 112), "cv1": (512, 108), "test": (448, 100)}


def duke_case_ids(sheet: Path) -> dict[str, str]:
    """A Duke case id per role: GAN training, segmentation CV folds 0 and 1, segmentation test."""
    s = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    cv = s[(s["synthesis_split"] == "val") & (s["segmentation_role"] == "cv")]
    return {
        "train": s.loc[s["synthesis_split"] == "train", "case_id"].iloc[0],
        "cv0": cv.loc[cv["segmentation_val_fold"] == "0", "case_id"].iloc[0],
        "cv1": cv.loc[cv["segmentation_val_fold"] == "1", "case_id"].iloc[0],
        "test": s.loc[(s["synthesis_split"] == "test") & (s["segmentation_role"] == "test"), "case_id"].iloc[0],
    }


def write_cohort(root: Path, masks: Path, ids: dict[str, str]) -> None:
    cfg = {
        "n_cases": len(ids), "case_prefix": "Rehearsal_", "rows": [448, 448], "cols": [448, 448], "slices": [100, 100],
        "pixel_spacing_mm": [0.7, 0.7], "slice_thickness_mm": [1.1, 1.1], "post_phases": 1, "mask_fraction": 1.0,
        "multifocal_fraction": 0.0, "seed": 2024,
    }  # fmt: skip
    for spec, (role, case) in zip(phantom.plan_cohort(cfg), ids.items()):
        size, slices = CASE_SHAPES[role]
        spec = phantom.CaseSpec(**{**spec.as_dict(), "case_id": case, "rows": size, "cols": size, "slices": slices,
                                   "has_mask": role != "train"})  # fmt: skip
        phantom.write_case(spec, root / case, masks / f"{case}.nii.gz")
        if role == "train":  # GAN training cases are the unannotated ones
            (masks / f"{case}.nii.gz").unlink()


def _he_init(net: torch.nn.Module, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
    return net.state_dict()


def write_seeded_weights(folder: Path, write: bool = True) -> dict[str, str]:
    """Seeded random stand-ins for the four pretrained files duke.yaml names (same keys and shapes);
    ``write=False`` leaves empty files (a dry run checks that they exist and reads none)."""
    from torchvision.models import alexnet, vgg19

    from .. import tf_inception
    from ..radimagenet import KerasInceptionV3

    folder.mkdir(parents=True, exist_ok=True)
    nets = {
        "vgg": ("vgg19-seeded.pth", vgg19(weights=None)),
        "fid_imagenet": ("pt_inception-seeded.pth", tf_inception.build()),
        "fid_radimagenet": ("radimagenet-inceptionv3-seeded.pt", KerasInceptionV3()),
        "lpips": ("alexnet-seeded.pth", alexnet(weights=None)),
    }
    out = {}
    for i, (key, (name, net)) in enumerate(nets.items()):
        path = folder / name
        if write and not (path.is_file() and path.stat().st_size):  # an empty file is a dry run's
            torch.save(_he_init(net, i), path)
        elif not path.is_file():
            path.touch()
        out[key] = str(folder / name)
    return out


def site_config(root: Path, masks: Path, weights: dict[str, str]) -> dict:
    return {
        "data": {"root": str(root), "mask_pattern": f"{masks}/{{case}}.nii.gz",
                 "cohort": "paper-scale rehearsal (4 Duke-sized phantom cases; not patient data)"},
        "device": "cpu",
        "splits": {"n_folds": 2},
        "gan": {"niter": 1, "niter_decay": 0, "eval_epochs": [1], "max_pairs_per_epoch": 4,
                "vgg": {"mode": "pretrained", "weights": weights["vgg"]}},
        "metrics": {
            "fid_imagenet": {"weights": weights["fid_imagenet"]},
            "fid_radimagenet": {"weights": weights["fid_radimagenet"]},
            "lpips": {"weights": weights["lpips"]},
        },
        "segmentation": {
            "trainer": "nnUNetTrainer_dcesynth_rehearsal",
            "tta": False,
        },
    }  # fmt: skip


def rule_figures(benchmarks: Path) -> pd.DataFrame:
    """Per rule: jobs, wall seconds (sum and largest job) and the largest max RSS of its jobs."""
    rows = []
    for f in sorted(benchmarks.rglob("*.tsv")):
        b = pd.read_csv(f, sep="\t")
        rule = f.relative_to(benchmarks).parts[0]
        rows.append({"rule": rule, "s": float(b["s"].iloc[-1]), "max_rss_mb": float(b["max_rss"].iloc[-1])})
    t = pd.DataFrame(rows)
    return (
        t.groupby("rule", sort=False)
        .agg(jobs=("s", "size"), wall_s_total=("s", "sum"), wall_s_max_job=("s", "max"), peak_rss_mb=("max_rss_mb", "max"))
        .reset_index()
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: a temp dir, removed)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="only plan the jobs (snakemake -n) and list them per rule")
    args = ap.parse_args(argv)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.mkdtemp(prefix="dcesynth_paper_scale_")
        args.workdir = Path(tmp)
    try:
        rehearse(args.workdir.resolve(), args.cores, args.dry_run)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def rehearse(wd: Path, cores: int, dry_run: bool) -> None:
    (wd / "config").mkdir(parents=True, exist_ok=True)
    for f in (REPO / "config").glob("*.yaml"):
        shutil.copy(f, wd / "config" / f.name)
    # One of the seven training sets, the largest (real pre, real post and synthetic post of every
    # case): set in the base config, since a later config file can add scenarios but not remove any.
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base["segmentation"]["scenarios"] = {"real_post+real_pre+syn_post": {"id": 507, "test_on": ["real_post"]}}
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    root, masks = wd / "Duke-Breast-Cancer-MRI", wd / "masks"
    ids = duke_case_ids(REPO / "resources" / "duke_split.tsv")
    t0 = time.perf_counter()
    if not root.is_dir():
        write_cohort(root, masks, ids)
    t_write = time.perf_counter() - t0
    weights = write_seeded_weights(wd / "weights", write=not dry_run)
    (wd / "site.yaml").write_text(yaml.safe_dump(site_config(root, masks, weights), sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", str(cores),
           "--configfile", "config/duke.yaml", "site.yaml", "--rerun-incomplete",
           *(["-n", "--quiet", "rules"] if dry_run else [])]  # fmt: skip
    print(f"cases: {', '.join(f'{c} ({r}, {CASE_SHAPES[r][0]}² x {CASE_SHAPES[r][1]})' for r, c in ids.items())}; "
          f"written in {t_write:.0f} s", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    with open(wd / "snakemake.log", "w") as log:
        proc = subprocess.run(cmd, cwd=wd, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"the rehearsal failed ({proc.returncode}); see {wd / 'snakemake.log'}")
    if dry_run:
        print((wd / "snakemake.log").read_text())
        return
    table = rule_figures(wd / "benchmarks")
    table.to_csv(wd / "paper_scale.tsv", sep="\t", index=False)
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"workflow_wall_s={wall:.0f} (this invocation) jobs={int(table['jobs'].sum())} "
          f"job_wall_s_sum={table['wall_s_total'].sum():.0f} peak_rss_mb={table['peak_rss_mb'].max():.0f} "
          f"(rule {table.loc[table['peak_rss_mb'].idxmax(), 'rule']})")  # fmt: skip


if __name__ == "__main__":
    main()
