"""Benchmark of the preprocessing stages on one phantom case of a chosen size.

    python -m dcesynth.bench.preprocess --rows 256 --cols 256 --slices 96 --size 512

Prints seconds for DICOM writing, our validated series read (baseline: SimpleITK's plain GDCM
read of the same series, so the ratio is the cost of validation), N4 and slice extraction, and
peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

from .. import dicom, phantom
from ..n4 import n4_correct
from ..slices import extract_slices, plan_transform


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=256)
    ap.add_argument("--slices", type=int, default=96)
    ap.add_argument("--size", type=int, default=512, help="slice size of extract_slices")
    ap.add_argument("--shrink", type=int, default=4, help="N4 shrink factor")
    args = ap.parse_args(argv)
    cfg = {
        "n_cases": 1, "case_prefix": "Bench_", "rows": [args.rows] * 2, "cols": [args.cols] * 2,
        "slices": [args.slices] * 2, "pixel_spacing_mm": [340 / args.cols] * 2, "slice_thickness_mm": [1.1, 1.1],
        "post_phases": 1, "mask_fraction": 1.0, "multifocal_fraction": 0.0, "seed": 1,
    }
    spec = phantom.plan_cohort(cfg)[0]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        phantom.write_case(spec, Path(tmp) / spec.case_id, Path(tmp) / "mask.nii.gz")
        t_write = time.perf_counter() - t
        series = dicom.select_dce(dicom.find_series(Path(tmp) / spec.case_id), "dyn|vibrant")[0]

        t = time.perf_counter()
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series.path)))
        reader.Execute()
        t_plain = time.perf_counter() - t

        t = time.perf_counter()
        image = dicom.read_series(spec.case_id, series)
        t_read = time.perf_counter() - t

        t = time.perf_counter()
        corrected, _ = n4_correct(image, shrink_factor=args.shrink)
        t_n4 = time.perf_counter() - t

        t = time.perf_counter()
        tr = plan_transform(corrected, size=args.size)
        stack = extract_slices(corrected, tr)
        t_slices = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"volume={args.slices}x{args.rows}x{args.cols} slices_out={stack.shape}")
    print(f"phantom_write_s={t_write:.2f}")
    print(f"sitk_plain_read_s={t_plain:.3f} validated_read_s={t_read:.3f} ratio={t_read / t_plain:.2f}")
    print(f"n4_s={t_n4:.2f} (shrink {args.shrink}) n4_over_read={t_n4 / t_plain:.1f}")
    print(f"extract_slices_s={t_slices:.3f} ms_per_slice={1000 * t_slices / stack.shape[0]:.2f}")
    print(f"peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
