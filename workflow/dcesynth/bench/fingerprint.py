"""What the raw inputs' fingerprints (dcesynth.fingerprint) add to every Snakemake start.

    python -m dcesynth.bench.fingerprint --cases 20 --files 10000

Makes ``--cases`` case folders of ``--files`` small files each, in a DICOM tree's shape (a study
folder, 4 series folders), and times the fingerprint of every case: once with the file system's cache
cold for these files as far as this process can make it (first pass), then warm. Baseline in the same
run: a bare ``os.walk`` over the same folders (listing only, no ``stat``), the least any check of the
files could cost. Prints the per-case and per-file times and the projection to Duke's 922 cases.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ..fingerprint import fingerprint

DUKE_CASES = 922


def make_cases(root: Path, cases: int, files: int) -> list[Path]:
    out = []
    for c in range(cases):
        case = root / f"Breast_MRI_{c:03d}"
        series = [case / "01-01-1990-NA-MRI BREAST" / f"{s + 3}.000000-ax dyn {s}-{1000 + s}" for s in range(4)]
        for folder in series:
            folder.mkdir(parents=True)
        for f in range(files):
            (series[f % 4] / f"1-{f // 4 + 1:04d}.dcm").write_bytes(b"\0" * 128)
        out.append(case)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--files", type=int, default=10000, help="files per case (a Duke case: 4 phases x ~170 slices)")
    ap.add_argument("--workdir", type=Path, help="make the tree here (default: a temp dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        t = time.perf_counter()
        cases = make_cases(Path(tmp), args.cases, args.files)
        print(f"tree: {args.cases} cases x {args.files} files made in {time.perf_counter() - t:.1f} s")
        times = {}
        for label in ("fingerprint (first pass)", "walk only (baseline)", "fingerprint (warm)"):
            t = time.perf_counter()
            for case in cases:
                if label.startswith("walk"):
                    for _ in os.walk(case):
                        pass
                else:
                    fingerprint([case])
            times[label] = (time.perf_counter() - t) / args.cases
        n = args.cases * args.files
        for label, per_case in times.items():
            print(f"{label:26s} {per_case * 1e3:8.1f} ms per case, {per_case / args.files * 1e6:6.2f} us per file, "
                  f"{per_case * DUKE_CASES:7.1f} s for {DUKE_CASES} cases")
        ratio = times["fingerprint (warm)"] / times["walk only (baseline)"]
        print(f"fingerprint / walk (warm): {ratio:.2f}x over {n} files")


if __name__ == "__main__":
    main()
