"""The benchmark scripts run (tiny sizes) and print the figures the notes quote."""

from __future__ import annotations

import json

import pytest

from dcesynth.bench import preprocess, synthesis, train_step


def test_preprocess_bench(capsys):
    preprocess.main(["--rows", "40", "--cols", "48", "--slices", "10", "--size", "64", "--shrink", "2"])
    out = capsys.readouterr().out
    for key in ("validated_read_s=", "ratio=", "n4_s=", "ms_per_slice=", "peak_rss_mb="):
        assert key in out


def test_train_step_bench(capsys):
    train_step.main(["--size", "32", "--ngf", "4", "--ndf", "4", "--n-downsample", "1", "--n-blocks", "1",
                     "--iters", "1", "--batch", "2", "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr().out
    for key in ("s_per_iter=", "s_per_pair_batch2=", "ratio_vs_batch1=", "peak_memory_mb=", "infer_s_per_slice="):
        assert key in out


def test_train_step_bench_of_each_model_family(capsys):
    for family, options in (("unet", {"ngf": 4, "depth": 2}), ("nca", {"steps": 2}), ("flow", {"ngf": 4, "depth": 2})):
        train_step.main(["--family", family, "--options", json.dumps(options), "--sizes", "16,32", "--iters", "1",
                         "--device", "cpu"])  # fmt: skip
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[:2] for line in lines] == [[f"family={family}", "size=16"], [f"family={family}", "size=32"]]
        assert all("params=" in line and "s_per_iter=" in line and "infer_s_per_slice=" in line for line in lines)


def test_synthesis_bench(capsys):
    synthesis.main(["--size", "32", "--ngf", "4", "--n-downsample", "1", "--n-blocks", "1", "--slices", "4",
                    "--batches", "1,2", "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr().out
    assert "best_batch=" in out and "inverse_transform_s=" in out


def test_metrics_bench(capsys):
    from dcesynth.bench import metrics

    metrics.main(["--pairs", "3", "--size", "64", "--fid-images", "2"])
    out = capsys.readouterr().out
    assert "speedup=" in out and "max_abs_diff=" in out and "fid_features_images_per_s=" in out
    diff = float(out.split("max_abs_diff=")[1].split()[0])
    assert diff < 1e-3  # ours and torchmetrics agree on the same pairs


@pytest.mark.integration
@pytest.mark.long
def test_evaluation_bench(capsys, tmp_path):
    """Epochs scored by the baseline revision's code and by this tree's (alternating, each in a
    fresh process), the second epoch reading the real features the first cached, with the same
    metrics; Table 1 projected to the paper's sizes. An end-to-end run of the benchmark (git
    archive of another revision, four interpreters): integration, as the other benchmarks' runs."""
    import subprocess

    from dcesynth.bench import evaluation

    known = subprocess.run(["git", "-C", str(evaluation.REPO), "cat-file", "-e", f"{evaluation.BASELINE}^{{commit}}"])
    if known.returncode:  # a shallow clone or an unpacked sdist: no baseline to run
        pytest.skip(f"the baseline revision {evaluation.BASELINE} is not in this checkout's history")
    evaluation.main(["--pairs", "4", "--size", "64", "--ngf", "8", "--epochs", "2", "--table1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "epoch 1 (cache filled)" in out and "epoch 2 (cache read)" in out and "faster" in out
    assert "projected to the paper's 5000 pixel pairs" in out
    diffs = [float(line.split("largest metric difference ")[1].rstrip(")")) for line in out.splitlines() if "difference" in line]
    assert len(diffs) == 2 and max(diffs) < 1e-4  # before and after score the same
    assert len(list((tmp_path / "features").rglob("*.npy"))) == 3  # the real slices' features, once per metric
    assert "GFLOP of convolutions per slice" in out and "at most" in out


def test_the_generator_ceiling_counts_the_convolutions_flops(tmp_path):
    """The evaluation benchmark's ceiling: its FLOP count of a generator pass equals the sum over
    the convolutions of 2 x C_in x C_out x k² per output pixel (per input pixel for a transposed
    one), counted here from hooks on a real forward pass; its times and rate are positive."""
    import torch

    from dcesynth.bench import evaluation
    from dcesynth.models.pix2pixhd.networks import build_generator

    torch.manual_seed(0)
    options = {"input_nc": 1, "output_nc": 1, "ngf": 4, "n_blocks_global": 2}
    G = build_generator(**options)
    torch.save({"options": options, "state_dict": G.state_dict()}, tmp_path / "g.pt")
    expected = []

    def count(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        pixels = (inputs[0] if isinstance(module, torch.nn.ConvTranspose2d) else output)[0, 0].numel()
        expected.append(2 * module.in_channels * module.out_channels * k * pixels)

    for m in G.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.register_forward_hook(count)
    with torch.no_grad():
        G(torch.zeros(1, 1, 64, 64))
    flops, t_slice, gemm = evaluation.generator_ceiling(str(tmp_path / "g.pt"), 64, threads=1, batch=2)
    assert flops == sum(expected) and len(expected) == 1 + 4 + 2 * 2 + 4 + 1
    assert t_slice > 0 and gemm > 1e8


def test_the_ceilings_arithmetic():
    """10 pairs, 60 s of generator in an 80 s epoch after (100 s before); 4 GFLOP per slice at
    1 GFLOP/s is 40 s: 20 s + 40 s with the rest as measured; with the FID networks' 1 GFLOP per
    slice (10 s) and the rest free, 50 s."""
    from dcesynth.bench.evaluation import ceiling

    c = ceiling(before=100.0, after=80.0, pairs=10, flops=4e9, t_slice=6.0, gemm=1e9, fid=1e9)
    assert c == pytest.approx({"share": 0.75, "estimate": 100 / 60, "bound": 2.0})


def test_the_fid_networks_flops_are_two_inception_v3s():
    """The paper's FID networks (TF-GAN Inception, RadImageNet's InceptionV3) at 299 px are two
    Inception v3s: torchvision documents 5.71 GFLOPS (multiply-adds) for inception_v3 at 299 px,
    so 2 x 2 x 5.71e9 floating-point operations per slice."""
    from dcesynth.bench.evaluation import fid_flops, paper_metrics

    assert fid_flops(paper_metrics(8)) == pytest.approx(2 * 2 * 5.71e9, rel=0.01)


@pytest.mark.integration
@pytest.mark.long
def test_gpu_check_cpu_fallback(capsys):
    """The GPU check's CPU fallback at small sizes: every path runs (bf16 is CUDA-only) and prints
    its figures, and the paper-size projection is printed."""
    from dcesynth.bench import gpu_check

    rc = gpu_check.main(["--device", "cpu", "--size", "64", "--ngf", "8", "--iters", "1", "--paper-size", "32",
                         "--threads", "2"])  # fmt: skip
    out = capsys.readouterr().out
    lines = {line.split()[0].removeprefix("path="): line for line in out.splitlines() if line.startswith("path=")}
    assert rc == 0, out
    assert list(lines) == ["train_fp32", "train_bf16", "distributed", "synthesis", "fid_inception",
                           "fid_radimagenet", "lpips", "nnunet", "paper"]  # fmt: skip
    assert "status=skipped" in lines["train_bf16"]
    for path, line in lines.items():
        if path != "train_bf16":
            assert "status=ok" in line and "peak_mem_mb=" in line, line
    assert "s_per_iter=" in lines["train_fp32"] and "images_per_s=" in lines["synthesis"]
    assert "backend=gloo" in lines["distributed"] and "fold_epoch_s=" in lines["nnunet"]
    assert "duke_pairs_per_epoch=130928" in out and "hours_200_epochs=" in out


@pytest.mark.integration
@pytest.mark.long
def test_dag_bench(capsys, tmp_path):
    """The Duke-scale DAG benchmark on 12 cases of the Duke sheet: every figure printed, and the
    no-op run finds nothing to do (the touched tree is up to date, as after a real run)."""
    from dcesynth.bench import dag

    dag.main(["--cases", "12", "--repeat", "1", "--workdir", str(tmp_path), "--files", "8"])
    out = capsys.readouterr().out
    for key in ("jobs=", "dry_run_s=", "ratio=", "noop_dry_run_s=", "noop_run_s=", "noop_run_default_gc_s=",
                "gc_tuning_ratio=", "files_per_case=8", "fingerprints_s=", "share_of_noop_dry_run="):  # fmt: skip
        assert key in out
    assert "nothing_to_do=True" in out
    assert (tmp_path / "full" / "wd" / ".snakemake" / "metadata").is_dir()  # --workdir keeps the tree


@pytest.mark.integration
def test_paper_scale_rehearsal_plans_every_rule(capsys, tmp_path, monkeypatch):
    """The rehearsal's config (duke.yaml + counts) plans every rule of the workflow; the real run
    (Duke-sized cases, ~1 h on 2 cores) is the benchmark itself, its figures are in docs/benchmarks.md."""
    from dcesynth.bench import paper_scale

    monkeypatch.setattr(paper_scale, "CASE_SHAPES", {r: (40, 12) for r in paper_scale.CASE_SHAPES})
    paper_scale.main(["--dry-run", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    for rule in ("ingest", "n4_bias_correction", "extract_slices", "train_epoch", "evaluate_epoch",
                 "select_best_epoch", "synthesize_volume", "image_quality_tables", "tumour_region_metrics",
                 "crop_breast", "crop_synthetic", "nnunet_plan", "nnunet_train", "nnunet_predict", "segmentation_tables"):  # fmt: skip
        assert rule in out, rule
    counts = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if len(ln.split()) == 2 and ln.split()[1].isdigit()}
    assert counts["ingest"] == 4 and counts["ingest_mask"] == 3 and counts["train_epoch"] == 1
    assert counts["nnunet_train"] == 2 and counts["nnunet_predict"] == 1  # one training set, two folds
    site = (tmp_path / "site.yaml").read_text()
    assert "nnUNetTrainer_dcesynth_rehearsal" in site and "make_phantom" not in out


def test_fingerprint_bench(capsys):
    """The fingerprint benchmark on a small tree: every figure, and the Duke projection."""
    from dcesynth.bench import fingerprint

    fingerprint.main(["--cases", "2", "--files", "50"])
    out = capsys.readouterr().out
    assert "fingerprint (first pass)" in out and "walk only (baseline)" in out and "s for 922 cases" in out
    assert "fingerprint / walk (warm):" in out
