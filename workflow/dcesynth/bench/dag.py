"""Benchmark of the DAG at Duke scale: dry run and up-to-date no-op run on 922 cases.

    python -m dcesynth.bench.dag --cases 922

Builds a Duke-shaped tree in a temporary folder (case folders named as in the Duke split sheet,
each with placeholder DCE series folders: enough for a dry run, which reads no DICOM), then times
``snakemake -n --configfile config/duke.yaml site.yaml``. It then creates every output as an
empty file, lets ``snakemake --touch -F`` order their times and record their metadata as a real
run would, and times a dry run and a real
``--cores 1`` run that find nothing to do (``--repeat`` times each: the median and the fastest are
printed, since one run on a shared machine can be off by a second). Baseline in the same run: the
dry run of a 10-case tree, so the ratio shows how the parse and DAG cost grows with the cohort,
and the no-op run with CPython's default collector thresholds (``dcesynth.gc_tuning`` switched
off), so ``gc_tuning_ratio`` shows what the tuning buys.
``--workdir DIR`` keeps the trees there (to profile the no-op run, or to time it again by hand); a
kept tree that is still up to date is timed again without being rebuilt.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DIRECTORY_OUTPUT = re.compile(r"/(imagesTr|labelsTr|imagesTs_\w+)$|/nnUNet_preprocessed/Dataset\w+$|^results/dicom/.+/(synthetic|real)_\w+$"
                              r"|^results/mama_synth/[^/]+$")  # fmt: skip


def make_tree(root: Path, ids: list[str], post_phases: int = 1, annotated: set[str] = frozenset(),
              files: int = 0) -> None:
    """Case folders of empty series folders, or of ``files`` empty files per case spread over them (what
    the raw inputs' fingerprints stat at every start)."""
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for case in ids:
        if case in annotated:
            (root / "masks" / f"{case}.nii.gz").touch()  # existence is all a dry run reads
        study = root / "dicom" / case / "01-01-1990-NA-MRI BREAST BILATERAL W  WO-12345"
        names = ["ax dyn pre"] + [f"ax dyn {k}st pass" for k in range(1, post_phases + 1)]
        folders = [study / f"{3 + k}.000000-{name}-1000{k}" for k, name in enumerate(names)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            (folders[f % len(folders)] / f"1-{f // len(folders) + 1:04d}.dcm").touch()


# Snakemake with the Snakefile's collector tuning switched off: the baseline of the no-op timing.
DEFAULT_GC = "import dcesynth.gc_tuning as g; g.tune = lambda: None; from snakemake.cli import main; main()"


def snakemake(workdir: Path, *args: str, default_gc: bool = False) -> tuple[float, str]:
    launcher = ["-c", DEFAULT_GC] if default_gc else ["-m", "snakemake"]
    cmd = [sys.executable, *launcher, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config" / "duke.yaml"), str(workdir / "site.yaml"), *args]  # fmt: skip
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t, proc.stdout + proc.stderr


# The weights files duke.yaml names: a dry run checks that they exist and reads none.
WEIGHTS_KEYS = ("gan.vgg", "metrics.fid_imagenet", "metrics.fid_radimagenet", "metrics.lpips")


def placeholder_weights(folder: Path) -> str:
    """Empty stand-ins for duke.yaml's four weights files, as site-config YAML lines naming them
    (enough for a dry run; a real job would refuse them as unreadable)."""
    folder.mkdir(parents=True, exist_ok=True)
    sections: dict[str, list[str]] = {}
    for key in WEIGHTS_KEYS:
        top, name = key.split(".")
        (folder / f"{name}.placeholder").touch()
        sections.setdefault(top, []).append(f"  {name}:\n    weights: {folder / f'{name}.placeholder'}\n")
    return "".join(f"{top}:\n" + "".join(lines) for top, lines in sections.items())


def interleaved(rows: list[dict]) -> list[dict]:
    """The sheet's rows taken round-robin over its roles (GAN training, each CV fold, excluded,
    test), so that a tree of the first ten cases already has every role the workflow refuses to
    run without (the whole sheet is the same set in another order)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["synthesis_split"], r["segmentation_role"], r["segmentation_val_fold"]), []).append(r)
    out = []
    while any(groups.values()):
        out += [g.pop(0) for g in groups.values() if g]
    return out


def workdir_for(root: Path, ids: list[str], annotated: set[str] = frozenset(), files: int = 0) -> Path:
    make_tree(root, ids, annotated=annotated, files=files)
    wd = root / "wd"
    (wd / "config").mkdir(parents=True, exist_ok=True)
    (wd / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    (wd / "site.yaml").write_text(
        f"data:\n  root: {root / 'dicom'}\n  mask_pattern: {root / 'masks'}/{{case}}.nii.gz\n"
        + placeholder_weights(root / "weights")
    )
    return wd


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=922)
    ap.add_argument("--repeat", type=int, default=3, help="no-op runs to time (median and fastest)")
    ap.add_argument("--workdir", type=Path, help="build the trees here and keep them (default: a temp dir)")
    ap.add_argument("--files", type=int, default=0,
                    help="empty files per case in the trees (Duke: ~840); the fingerprints of the raw files "
                         "(ingest.fingerprint), which every start computes, are then also timed alone")
    args = ap.parse_args(argv)
    with open(REPO / "resources" / "duke_split.tsv") as fh:
        rows = interleaved(list(csv.DictReader(fh, delimiter="\t")))[: args.cases]
    ids = [r["case_id"] for r in rows]
    # the annotated cases (validation and test of the synthesis split) get a tumour mask file
    annotated = {r["case_id"] for r in rows if r["synthesis_split"] in ("val", "test")}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.workdir or Path(scratch)
        small = workdir_for(tmp / "small", ids[:10], annotated)
        t_small, _ = snakemake(small, "-n", "--quiet", "rules")
        # the dry run: a tree with no outputs (only this tree's folders are ever made)
        dry = workdir_for(tmp / "dry", ids, annotated, files=args.files)
        t_dry, out = snakemake(dry, "-n", "--quiet", "rules")
        total = re.search(r"^total\s+(\d+)", out, re.MULTILINE)
        # the no-op runs: a tree whose every output exists and is up to date
        wd = workdir_for(tmp / "full", ids, annotated, files=args.files)
        if args.workdir and "Nothing to be done" in snakemake(wd, "-n")[1]:
            summary = ""  # a tree kept by an earlier run and still up to date: no need to touch it again
        else:
            _, summary = snakemake(wd, "--summary")
        for line in summary.splitlines()[1:]:
            path = line.split("\t")[0]
            if path and not path.startswith(("/", "Building", "Assuming")) and "\t" in line:
                p = wd / path
                if DIRECTORY_OUTPUT.search(path):  # the nnU-Net and DICOM series folders are directory() outputs
                    p.mkdir(parents=True, exist_ok=True)
                else:
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.touch()
        # -F: every job is "run" by touching, so every output gets its metadata record, as after
        # a real run (without it most jobs have none and the no-op run reads far fewer records)
        if summary:
            snakemake(wd, "--touch", "-F", "--cores", "1", "--quiet", "all")
        noop_dry, noop, noop_default_gc = [], [], []
        for _ in range(max(1, args.repeat)):
            t, out_noop = snakemake(wd, "-n")
            noop_dry.append(t)
            noop.append(snakemake(wd, "--cores", "1")[0])
            noop_default_gc.append(snakemake(wd, "--cores", "1", default_gc=True)[0])
        if args.files:  # what the fingerprints of every case's raw files cost, timed alone on the same tree
            from ..fingerprint import fingerprint

            cases = sorted((tmp / "full" / "dicom").iterdir())
            t = time.perf_counter()
            for case in cases:
                fingerprint([case])
            t_fp = time.perf_counter() - t
    print(f"cases={len(ids)} jobs={total.group(1) if total else '?'}")
    print(f"dry_run_s={t_dry:.1f} dry_run_10_cases_s={t_small:.1f} ratio={t_dry / t_small:.1f}")
    print(
        f"noop_dry_run_s={statistics.median(noop_dry):.1f} (fastest {min(noop_dry):.1f}) "
        f"noop_run_s={statistics.median(noop):.1f} (fastest {min(noop):.1f}) runs={len(noop)} "
        f"nothing_to_do={'Nothing to be done' in out_noop}"
    )
    if args.files:
        share = t_fp / statistics.median(noop_dry)
        print(f"files_per_case={args.files} fingerprints_s={t_fp:.1f} ({len(cases)} cases, "
              f"{t_fp / (len(cases) * args.files) * 1e6:.2f} us per file) share_of_noop_dry_run={share:.2f}")  # fmt: skip
    base = statistics.median(noop_default_gc)
    print(f"noop_run_default_gc_s={base:.1f} (fastest {min(noop_default_gc):.1f}) "
          f"gc_tuning_ratio={base / statistics.median(noop):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
