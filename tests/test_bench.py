"""The benchmark scripts run (tiny sizes) and print the figures the notes quote."""

from __future__ import annotations

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


def test_dag_bench(capsys, tmp_path):
    """The Duke-scale DAG benchmark on 12 cases of the Duke sheet: every figure printed, and the
    no-op run finds nothing to do (the touched tree is up to date, as after a real run)."""
    from dcesynth.bench import dag

    dag.main(["--cases", "12", "--repeat", "1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    for key in ("jobs=", "dry_run_s=", "ratio=", "noop_dry_run_s=", "noop_run_s=", "noop_run_default_gc_s=",
                "gc_tuning_ratio="):  # fmt: skip
        assert key in out
    assert "nothing_to_do=True" in out
    assert (tmp_path / "full" / "wd" / ".snakemake" / "metadata").is_dir()  # --workdir keeps the tree
