"""Evaluation: seeded samples, FID extractor weights, SAMe selection, Table 1 rows (small arrays)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dcesynth import evaluation as E
from dcesynth.errors import ConfigError
from dcesynth.models.pix2pixhd.networks import build_generator
from conftest import REPO, default_config


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    out = {}
    for case in ("a", "b", "c", "d"):
        (tmp_path / case).mkdir()
        pre = rng.integers(0, 200, (6, 48, 48), dtype=np.uint8)
        post = np.clip(pre.astype(int) + 30, 0, 255).astype(np.uint8)
        out[case] = {}
        for seq, arr in (("pre", pre), ("post1", post), ("syn", np.clip(post.astype(int) - 5, 0, 255).astype(np.uint8))):
            np.save(tmp_path / case / f"{seq}.npy", arr)
            out[case][seq] = str(tmp_path / case / f"{seq}.npy")
    return out


def metrics_cfg(**kw):
    cfg = default_config()["metrics"]
    cfg.update({"n_pixel_pairs": 10, "n_fid_pairs": 8} | kw)
    return cfg


def test_first_sample_order_takes_the_first_slices_of_the_sorted_cases(files):
    """sample_order 'first', the authors' --limit: cases in order, slices in order, cut at n."""
    assert E.sample_slices(files, "pre", 8, seed=1, order="first") == [("a", i) for i in range(6)] + [("b", 0), ("b", 1)]
    assert E.sample_slices(files, "pre", 8, seed=2, order="first") == E.sample_slices(files, "pre", 8, 1, order="first")
    assert len(E.sample_slices(files, "pre", None, 1, order="first")) == 24
    with pytest.raises(ValueError, match="sample_order"):
        E.sample_slices(files, "pre", 8, 1, order="random")


def test_fid_normalize_reaches_both_networks():
    cfg = metrics_cfg(fid_normalize="per_image", frd={"enabled": False})
    nets = E.distribution_extractors(cfg)
    assert {n: net.extractor.normalize for n, net in nets.items()} == {"fid_imagenet": "per_image", "fid_radimagenet": "per_image"}
    assert all("per-image" in net.provenance for net in nets.values())
    plain = E.distribution_extractors(metrics_cfg(frd={"enabled": False}))
    assert {net.extractor.normalize for net in plain.values()} == {"none"}


def test_sample_is_seeded_and_capped(files):
    a = E.sample_slices(files, "pre", 10, seed=1)
    assert a == E.sample_slices(files, "pre", 10, seed=1) and len(a) == 10
    assert a != E.sample_slices(files, "pre", 10, seed=2)
    assert len(E.sample_slices(files, "pre", None, 1)) == 24
    # a shuffle, not a sorted draw: a prefix (the FID pairs) reaches beyond the first cases
    everything = E.sample_slices(files, "pre", None, 1)
    assert sorted(everything) == sorted(set(everything)) and everything != sorted(everything)
    assert {c for c, _ in everything[:8]} != {c for c, _ in sorted(everything)[:8]}


def test_inception_weights_are_local_files(tmp_path):
    with pytest.raises(ConfigError, match="metrics.fid_imagenet.weights"):
        E.InceptionFeatures("pretrained", None, "metrics.fid_imagenet")
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict(), path)
    net = E.InceptionFeatures("pretrained", str(path), "metrics.fid_imagenet", network="torchvision")
    assert net.provenance.startswith("torchvision pretrained:inception.pth:sha256=")
    with pytest.raises(ConfigError, match="set metrics.fid_imagenet.network: torchvision"):
        E.InceptionFeatures("pretrained", str(path), "metrics.fid_imagenet", network="tf_inception")
    feats = E.InceptionFeatures("random", None, "k", seed=3)(np.zeros((2, 32, 32), np.uint8) + 100)
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()


def test_evaluate_and_select_best_epoch(tmp_path, files):
    torch.manual_seed(0)
    gens, tables = {}, {}
    for epoch in (2, 4, 6):
        G = build_generator(ngf=4, n_downsample_global=1, n_blocks_global=1)
        gens[epoch] = tmp_path / f"g{epoch}.pt"
        torch.save({"options": {"ngf": 4, "n_downsample_global": 1, "n_blocks_global": 1}, "state_dict": G.state_dict()}, gens[epoch])
        tables[epoch] = tmp_path / f"e{epoch}.tsv"
        cfg = metrics_cfg(n_fid_pairs=3)  # the two Inception networks at 299 px are most of the time
        t = E.evaluate_generator(gens[epoch], files, "pre", "post1", cfg, tables[epoch], device="cpu")
        assert set(t["metric"]) == {"ssim", "ms_ssim", "psnr", "mse", "mae", "mae_authors", "mse_authors",
                                    "ssim_authors", "fid_imagenet", "fid_radimagenet", "frd"}  # fmt: skip
        for fid in ("fid_imagenet", "fid_radimagenet"):
            assert t.loc[t["metric"] == fid, "provenance"].item().startswith("UNTRAINED")
        assert t.loc[t["metric"] == "frd", "provenance"].item().startswith("radiomics")
        assert np.isfinite(t.loc[t["metric"] == "frd", "mean"].item())
        assert t.loc[t["metric"] == "ssim", "n"].item() == 10
    same_metrics = ["ssim", "mse", "mae", "fid_imagenet", "fid_radimagenet"]
    chosen = E.select_best_epoch(tables, same_metrics, "same")
    json.dumps(chosen)  # the record best_epoch.json holds
    table = E.score_epochs(tables, same_metrics, "test cohort")
    best = chosen["epoch"]
    assert best == int(table.loc[table["same"].idxmin(), "epoch"]) == E.best_epoch(table, "same")
    # the paper's SAMe (authors' MAE/MSE) is there too, with the epoch it would have chosen
    assert chosen["epoch_by"]["same_paper"] == int(table.loc[table["same_paper"].idxmin(), "epoch"])
    # each network's provenance and the cohort survive into the epoch table
    assert table["fid_imagenet_provenance"].str.startswith("UNTRAINED").all()
    assert table["frd_provenance"].str.startswith("radiomics").all()
    assert (table["cohort"] == "test cohort").all() and "ssim_provenance" not in table
    with pytest.raises(ConfigError, match="were not computed"):
        E.select_best_epoch(tables, ["lpips"], "same")


def test_same_chooses_the_epoch_a_hand_computation_chooses(tmp_path):
    """SAMe by hand on three epochs where the metrics disagree about the best one:
    each metric min-max scaled over the epochs (SSIM reversed), then averaged."""
    values = {2: (0.70, 100, 5.0, 30, 0.10), 4: (0.60, 80, 4.0, 20, 0.16), 6: (0.65, 90, 6.0, 40, 0.20)}
    authors = {2: (0.71, 40, 90), 4: (0.69, 42, 100), 6: (0.70, 38, 80)}  # ssim, mse, mae as the authors computed them
    metrics = ["ssim", "mse", "mae", "fid_imagenet", "fid_radimagenet"]
    tables = {}
    for epoch, row in values.items():
        tables[epoch] = tmp_path / f"epoch_{epoch}.tsv"
        names = metrics + ["ssim_authors", "mse_authors", "mae_authors"]
        pd.DataFrame({"metric": names, "mean": row + authors[epoch], "sd": 0.0, "n": 10, "provenance": "analytic"}).to_csv(
            tables[epoch], sep="\t", index=False)  # fmt: skip
    # scaled: ssim (reversed) 0, 1, .5; mse 1, 0, .5; mae .5, 0, 1; fid_imagenet .5, 0, 1; fid_radimagenet 0, .6, 1
    same = {2: (0 + 1 + 0.5 + 0.5 + 0) / 5, 4: (1 + 0 + 0 + 0 + 0.6) / 5, 6: (0.5 + 0.5 + 1 + 1 + 1) / 5}
    table = E.score_epochs(tables, metrics)
    assert table.set_index("epoch")["same"].to_dict() == pytest.approx(same)
    chosen = E.select_best_epoch(tables, metrics, "same")
    assert chosen["epoch"] == 4 and chosen["same"] == pytest.approx(0.32)
    # on ranks (best 0, worst 1): ssim 0, 1, .5; mse 1, 0, .5; mae .5, 0, 1; fid_imagenet .5, 0, 1; fid_radimagenet 0, .5, 1
    assert table.set_index("epoch")["same_rank"].to_dict() == pytest.approx({2: 0.4, 4: 0.3, 6: 0.8})
    # the paper's SAMe (its SSIM, MSE, MAE as the authors computed them, both FIDs): ssim_authors (reversed)
    # 0, 1, .5; mse_authors .5, 1, 0; mae_authors .5, 1, 0; fid_imagenet .5, 0, 1; fid_radimagenet 0, .6, 1
    assert table.set_index("epoch")["same_paper"].to_dict() == pytest.approx({2: 0.3, 4: 0.72, 6: 0.5})
    assert chosen["epoch_by"]["same_paper"] == 2 and chosen["epoch_by"]["same"] == 4
    # SSIM alone: higher is better, so its best epoch is 2 (0.70), not 4 (0.60)
    assert E.select_best_epoch(tables, ["ssim"], "same")["epoch"] == 2


def test_table1_of_a_second_run_reads_every_real_slices_features(files, tmp_path, caplog):
    """Table 1 of two runs on one feature cache: the second computes the features of its
    synthetic slices only (the real post, pre and subtraction slices of both splits and the split
    test's halves are read), and its FRDs equal those computed without a cache."""
    split = {"val": {c: files[c] for c in ("a", "b")}, "test": {c: files[c] for c in ("c", "d")}}
    off = {"mode": "off", "weights": None, "seed": 0}
    cfg = metrics_cfg(fid_imagenet=off, fid_radimagenet=off, n_fid_pairs_test=5)
    rng = np.random.default_rng(5)
    runs = {}
    for run in ("first", "second"):
        runs[run] = {}
        for c, f in files.items():
            syn = np.clip(np.load(f["post1"]).astype(int) + rng.integers(-40, 40, (6, 48, 48)), 0, 255).astype(np.uint8)
            np.save(tmp_path / f"{run}_{c}.npy", syn)
            runs[run][c] = str(tmp_path / f"{run}_{c}.npy")
    cache = tmp_path / "features"
    E.quality_table(split, runs["first"], "pre", "post1", "best", cfg, "cpu", cache=cache)
    with caplog.at_level("INFO", logger="dcesynth"):
        cached = E.quality_table(split, runs["second"], "pre", "post1", "best", cfg, "cpu", cache=cache)
    computed = [r.getMessage() for r in caplog.records if "computed" in r.getMessage()]
    read = [r.getMessage() for r in caplog.records if "read from" in r.getMessage()]
    # val and test: post, pre, subtraction; split test: two halves (some already in the job's memo);
    # and the per-pair values of the two real-against-real rows (post against pre, val and test)
    assert computed == [] and 6 <= len([m for m in read if m.startswith("frd")]) <= 8
    assert len([m for m in read if m.startswith("values of 10 pairs")]) == 2, read
    plain = E.quality_table(split, runs["second"], "pre", "post1", "best", cfg, "cpu")
    pd.testing.assert_series_equal(cached["frd"], plain["frd"], rtol=1e-12)
    assert cached["frd"].notna().sum() >= 4
    # every value of the table as computed without a cache (LPIPS and the authors' metrics included)
    assert {"lpips", "lpips_authors", "ssim_authors", "psnr"} <= set(cached.columns)
    pd.testing.assert_frame_equal(cached, plain, rtol=1e-12)


def test_quality_table_rows(files):
    synthetic = {c: f["syn"] for c, f in files.items()}
    split = {"val": {c: files[c] for c in ("a", "b")}, "test": {c: files[c] for c in ("c", "d")}}
    off = {"mode": "off", "weights": None, "seed": 0}  # FRD samples the rows here (the FIDs' share is theirs)
    cfg = metrics_cfg(fid_imagenet=off, fid_radimagenet=off, n_fid_pairs_test=5)
    t = E.quality_table(split, synthetic, "pre", "post1", "best", cfg, "cpu")
    assert t["comparison"].tolist()[:3] == ["real_post_vs_syn_post_best", "real_post_vs_real_pre", "real_subt_vs_syn_subt_best"]
    assert t["dataset"].tolist() == ["val"] * 3 + ["test"] * 3 + ["split_test"] * 2
    val = t.set_index(["comparison", "dataset"])
    assert val.loc[("real_post_vs_syn_post_best", "val"), "n_pairs"] == 10  # n_pixel_pairs of 12
    # FID/FRD pairs: n_fid_pairs (8) on validation, n_fid_pairs_test (5) on test and split test
    assert t.groupby("dataset")["frd_n"].unique().map(list).to_dict() == {"val": [8], "test": [5], "split_test": [5]}
    # FRD in every row, the split-test floor (real vs real) included, but the subtraction rows: here
    # post = pre + 30, so every real subtraction slice is the same flat image and no radiomic
    # feature varies across them (FRD undefined: NaN, not a number made of float noise)
    subtraction = t["comparison"].str.startswith("real_subt")
    assert t.loc[~subtraction, "frd"].notna().all() and t.loc[subtraction, "frd"].isna().all()
    assert t["frd_provenance"].str.startswith("radiomics").all()


@pytest.mark.parametrize("normalize, mae", [(False, 5.0), (True, 0.0)])
def test_normalize_per_image_reaches_the_pixel_metrics(files, normalize, mae):
    """metrics.normalize_per_image. Here synthetic = real post - 5 everywhere (post = pre + 30
    spans 30..229, so nothing clips): on the 0-255 scale as it is, MAE is 5 and MSE 25; after each
    image's min-max normalisation both span 0..255 and are the same image."""
    off = {"mode": "off", "weights": None, "seed": 0}
    cfg = metrics_cfg(fid_imagenet=off, fid_radimagenet=off, lpips=off, frd={"enabled": False}, normalize_per_image=normalize)
    split = {"val": {c: files[c] for c in ("a", "b")}}
    row = E.quality_table(split, {c: f["syn"] for c, f in files.items()}, "pre", "post1", "ep", cfg, "cpu").iloc[0]
    assert row["comparison"] == "real_post_vs_syn_post_ep"
    assert row["mae"] == pytest.approx(mae, abs=1e-4) and row["mse"] == pytest.approx(mae**2, abs=1e-3)
    assert (row["psnr"] > 60) == normalize


def test_quality_table_values_by_hand(tmp_path):
    """Table 1's pixel values against hand-computed ones: 512 px slices spanning 0..255 (so neither
    our per-image normalisation nor the authors' normalisation and resize changes them), each slice
    marked by a 64 x 64 patch of its own grey; the synthetic slice is its real one with m pixels
    5 darker, the pre-contrast one with p pixels 7 darker (m, p known per slice). A real slice that
    met another slice's synthetic or pre image would add the patches' difference (>= 20 on 4096
    pixels) to every mean."""
    ramp = np.tile((np.arange(512) // 2).astype(np.uint8), (512, 1))
    files, m, p = {}, {}, {}
    for k, case in enumerate("abcd"):
        stacks = {"post1": [], "syn": [], "pre": []}
        for i in range(2):
            real = ramp.copy()
            real[:64, :64] = 20 + 40 * k + 20 * i
            m[case, i], p[case, i] = 1 + 2 * k + i, 3 + k + 2 * i
            syn, pre = real.copy(), real.copy()
            syn[200 : 200 + m[case, i], 256:266] -= 5  # ramp values 128..132: no clipping
            pre[300 : 300 + p[case, i], 100:110] -= 7
            for seq, arr in (("post1", real), ("syn", syn), ("pre", pre)):
                stacks[seq].append(arr)
        (tmp_path / case).mkdir()
        files[case] = {}
        for seq, arrays in stacks.items():
            np.save(tmp_path / case / f"{seq}.npy", np.stack(arrays))
            files[case][seq] = str(tmp_path / case / f"{seq}.npy")
    off = {"mode": "off", "weights": None, "seed": 0}
    cfg = metrics_cfg(fid_imagenet=off, fid_radimagenet=off, lpips=off, frd={"enabled": False})
    cfg |= {"n_pixel_pairs": None, "authors_size": 512}  # the authors' size: their resize leaves these slices
    split = {"val": {c: files[c] for c in "ab"}, "test": {c: files[c] for c in "cd"}}
    t = E.quality_table(split, {c: f["syn"] for c, f in files.items()}, "pre", "post1", "ep", cfg, "cpu")
    t = t.set_index(["comparison", "dataset"])
    pixels = 512 * 512
    for dataset, cases in (("val", "ab"), ("test", "cd")):
        ms = np.array([m[c, i] for c in cases for i in range(2)]) * 10  # changed pixels per pair
        ps = np.array([p[c, i] for c in cases for i in range(2)]) * 10
        syn_row, pre_row = t.loc[("real_post_vs_syn_post_ep", dataset)], t.loc[("real_post_vs_real_pre", dataset)]
        assert syn_row["n_pairs"] == 4
        assert syn_row["mae"] == pytest.approx(np.mean(ms * 5 / pixels), rel=1e-6)
        assert syn_row["mse"] == pytest.approx(np.mean(ms * 25 / pixels), rel=1e-6)
        assert syn_row["mae_sd"] == pytest.approx(np.std(ms * 5 / pixels), rel=1e-6)
        assert pre_row["mae"] == pytest.approx(np.mean(ps * 7 / pixels), rel=1e-6)
        # the authors' arithmetic: synthetic - real = -5 wraps to 251, its square 63001 to 25
        assert syn_row["mae_authors"] == pytest.approx(np.mean(ms * 251 / pixels), rel=1e-6)
        assert syn_row["mse_authors"] == pytest.approx(np.mean(ms * 25 / pixels), rel=1e-6)
        assert pre_row["mae_authors"] == pytest.approx(np.mean(ps * 249 / pixels), rel=1e-6)
        assert syn_row["psnr_authors"] == pytest.approx(np.mean(10 * np.log10(255.0**2 / (ms * 25 / pixels))), rel=1e-6)


def test_paper_tables_are_read_whole():
    t1 = E.read_paper_table(REPO / "resources" / "paper_table1.tsv")
    assert t1.shape == (10, 11)
    row = t1.set_index(["comparison", "dataset"]).loc[("real_post_vs_syn_post_ep30", "val")]
    assert row["ssim_authors"] == pytest.approx(0.699) and row["same"] == pytest.approx(0.077)
    # the published MAE/MSE are the authors' uint8 arithmetic, named as our columns of it
    assert row["mae_authors"] == pytest.approx(88.733) and not {"mae", "ssim"} & set(t1)
    extra = E.read_paper_table(REPO / "resources" / "paper_extra_metrics.tsv")
    assert {"psnr_authors", "ms_ssim_authors", "lpips_authors"} <= set(extra) and "psnr" not in extra


def test_the_published_values_sit_beside_the_columns_that_compute_them():
    paper = E.read_paper_table(REPO / "resources" / "paper_table1.tsv").merge(
        E.read_paper_table(REPO / "resources" / "paper_extra_metrics.tsv"), on=["comparison", "dataset"], how="outer")
    ours = pd.DataFrame({"comparison": ["real_post_vs_syn_post_ep8", "real_post_vs_real_pre", "real_subt_vs_syn_subt_ep8",
                                        "real_post_vs_real_post", "real_post_vs_syn_post_ep8"],
                         "dataset": ["test", "val", "test", "split_test", "nowhere"], "mae_authors": 1.0})  # fmt: skip
    t = E.beside_paper(ours, paper, "ep8")
    assert t["paper_mae_authors"].tolist()[:3] == [85.623, 66.146, 44.896]  # the paper's epoch 30, pre, subtraction
    assert t["paper_psnr_authors"].tolist()[0] == 32.91 and np.isnan(t["paper_psnr_authors"].iloc[1])
    assert t["paper_fid_imagenet"].iloc[3] == pytest.approx(49.808) and t.iloc[4].filter(like="paper_").isna().all()
    assert list(t["mae_authors"]) == [1.0] * 5 and "paper_comparison" not in t


def test_lpips_backbone_from_a_local_file_matches_lpips_own_wiring(tmp_path):
    import lpips as lpips_lib
    from torchvision.models import alexnet

    from dcesynth.evaluation import LPIPSNet

    torch.manual_seed(3)
    tv = alexnet(weights=None).eval()
    weights = tmp_path / "alexnet.pth"
    torch.save(tv.state_dict(), weights)
    ours = LPIPSNet("pretrained", "alex", str(weights), "metrics.lpips")
    assert ours.provenance.startswith("lpips-0.1 alex, pretrained:alexnet.pth:sha256=")
    # reference: the lpips library's own wiring, its slices holding torchvision's feature modules
    ref = lpips_lib.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    for name, sl in ref.net.named_children():
        for idx in list(sl._modules):
            sl._modules[idx] = tv.features[int(idx)]
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (5, 40, 40)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    got = ours(a, b, batch_size=2, normalize=False)
    with torch.no_grad():
        x = torch.from_numpy(a).float()[:, None].expand(-1, 3, -1, -1) / 127.5 - 1
        y = torch.from_numpy(b).float()[:, None].expand(-1, 3, -1, -1) / 127.5 - 1
        expected = ref(x, y).flatten().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert np.all(got > 0)
    np.testing.assert_allclose(ours(a, a, normalize=False), 0.0, atol=1e-7)


def test_lpips_weights_errors_name_the_key(tmp_path):
    from torchvision.models import vgg16

    from dcesynth.evaluation import LPIPSNet, lpips_network

    with pytest.raises(ConfigError, match="metrics.lpips.weights"):
        LPIPSNet("pretrained", "alex", None, "metrics.lpips")
    with pytest.raises(ConfigError, match="does not exist"):
        LPIPSNet("pretrained", "alex", str(tmp_path / "nope.pth"), "metrics.lpips")
    wrong = tmp_path / "vgg16.pth"
    torch.save(vgg16(weights=None).state_dict(), wrong)
    with pytest.raises(ConfigError, match="not a torchvision backbone"):
        LPIPSNet("pretrained", "alex", str(wrong), "metrics.lpips")
    net = lpips_network({"mode": "random", "net": "alex", "weights": None, "seed": 1})
    assert "UNTRAINED" in net.provenance
    assert lpips_network({"mode": "off", "net": "alex", "weights": None, "seed": 1}) is None


def _counting_radiomics(calls):
    from dcesynth.frd import RadiomicsFeatures

    class Counting(RadiomicsFeatures):
        def __call__(self, slices):
            calls.append(len(slices))
            return super().__call__(slices)

    return Counting()


def _real_and_fake(n=6, size=24, seed=3):
    rng = np.random.default_rng(seed)
    real = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-20, 20, real.shape), 0, 255).astype(np.uint8)
    return real, fake


def test_features_are_computed_once_per_slice_and_change_no_distance():
    from dcesynth.evaluation.feature_cache import Features
    from dcesynth.evaluation.features import distribution_distance
    from dcesynth.frd import RadiomicsFeatures

    calls = []
    real, fake = _real_and_fake()
    plain = distribution_distance(RadiomicsFeatures(), real, fake)
    memo = Features(_counting_radiomics(calls), "frd")
    assert distribution_distance(memo, real, fake) == pytest.approx(plain, rel=1e-12)
    assert calls == [6, 6]
    # the real slices again (another row of Table 1), a subset and a repeat: nothing recomputed
    distribution_distance(memo, real, real[[0, 2, 2, 5]])
    assert calls == [6, 6]
    distribution_distance(memo, real, np.concatenate([fake[:2], real[:1] // 2, real[:1] // 2]))
    assert calls == [6, 6, 1]  # the one new slice, once


def test_real_features_are_computed_once_across_jobs_and_values_do_not_change(tmp_path, caplog):
    """The feature cache (results/features): a second job (a new Features) reads the real slices'
    features instead of computing them; FID and FRD equal the uncached computation; the synthetic
    slices are never cached; another network, weights or device is another entry."""
    from dcesynth.evaluation.feature_cache import Features
    from dcesynth.evaluation.features import InceptionFeatures, distribution_distance
    from dcesynth.frd import RadiomicsFeatures

    real, fake = _real_and_fake(n=5, size=32)
    plain_frd = distribution_distance(RadiomicsFeatures(), real, fake)
    net = InceptionFeatures("random", None, "metrics.fid_imagenet", seed=1)
    plain_fid = distribution_distance(net, real, fake)
    calls = []
    for job in range(3):  # three epochs' jobs on the same validation slices
        fake_j = np.roll(fake, job, axis=1)
        frd_ = Features(_counting_radiomics(calls), "frd", tmp_path)
        fid_ = Features(net, "fid_imagenet", tmp_path)
        assert distribution_distance(frd_, real, fake_j) == pytest.approx(distribution_distance(RadiomicsFeatures(), real, fake_j), rel=1e-12)
        if job == 0:
            assert distribution_distance(frd_, real, fake) == pytest.approx(plain_frd, rel=1e-12)
            assert distribution_distance(fid_, real, fake) == pytest.approx(plain_fid, rel=1e-9)
        else:
            assert distribution_distance(fid_, real, fake) == pytest.approx(plain_fid, rel=1e-9)
            assert (frd_.read, frd_.computed) == (5, 5) and (fid_.read, fid_.computed) == (5, 5)  # only the fakes
    assert calls == [5, 5, 5, 5]  # the real slices once, then each job's synthetic ones
    assert sorted(p.parent.name for p in tmp_path.rglob("*.npy")) == ["fid_imagenet", "frd"]  # real stacks only
    assert not list(tmp_path.rglob("*.tmp"))
    # what the key holds besides the slices
    other_seed = Features(InceptionFeatures("random", None, "metrics.fid_imagenet", seed=2), "fid_imagenet", tmp_path)
    on_gpu = Features(net, "fid_imagenet", tmp_path, device="cuda:0")
    keys = __import__("dcesynth.evaluation.feature_cache", fromlist=["slice_keys"]).slice_keys(real)
    assert len({fid_.entry(keys), other_seed.entry(keys), on_gpu.entry(keys), fid_.entry(keys[::-1])}) == 4


def test_a_truncated_cache_entry_is_refused_and_recomputed(tmp_path, caplog):
    from dcesynth.evaluation.feature_cache import Features, slice_keys

    real, _ = _real_and_fake(n=4)
    calls = []
    first = Features(_counting_radiomics(calls), "frd", tmp_path)
    want = first.real(real)
    entry = first.entry(slice_keys(real))
    data = entry.read_bytes()
    for broken in (data[: len(data) // 2], data[:40], b""):
        entry.write_bytes(broken)
        again = Features(_counting_radiomics(calls), "frd", tmp_path)
        with caplog.at_level("WARNING", logger="dcesynth"):
            got = again.real(real)
        assert np.array_equal(got, want) and again.computed == 4 and again.read == 0
        assert "refused" in caplog.text and entry.name in caplog.text
        assert np.array_equal(np.load(entry), want)  # rewritten whole
        caplog.clear()
    # another stack's entry under this one's name (not its row count) is refused too
    np.save(entry, want[:3])
    assert Features(_counting_radiomics(calls), "frd", tmp_path).real(real).shape == want.shape


def test_a_truncated_pair_values_entry_is_refused_and_recomputed(tmp_path, caplog):
    from dcesynth.evaluation.feature_cache import PairValues

    a, b = _real_and_fake(n=4)
    calls = []

    def compute():
        calls.append(1)
        return {"mae": np.abs(a.astype(float) - b).mean(axis=(1, 2)), "lpips": np.arange(4, dtype=np.float32)}

    first = PairValues(tmp_path, "settings")
    want = first.values(a, b, compute)
    entry = first.entry(a, b)
    assert PairValues(tmp_path, "settings").values(a, b, compute).keys() == want.keys() and len(calls) == 1
    # other settings, or the stacks the other way round: another entry
    assert len({entry, PairValues(tmp_path, "other").entry(a, b), first.entry(b, a)}) == 3
    data = entry.read_bytes()
    for broken in (data[: len(data) // 2], b""):
        entry.write_bytes(broken)
        again = PairValues(tmp_path, "settings")
        with caplog.at_level("WARNING", logger="dcesynth"):
            got = again.values(a, b, compute)
        assert all(np.array_equal(got[k], want[k]) for k in want) and again.computed == 4 and again.read == 0
        assert "refused" in caplog.text and entry.name in caplog.text
        caplog.clear()
    np.savez(entry, mae=want["mae"][:3])  # another stack's values under this name
    assert PairValues(tmp_path, "settings").values(a, b, compute)["mae"].shape == (4,)


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path, caplog):
    """The cache's folder cannot be made (here: a file stands where it would be; read-only and
    full file systems fail the same way): the job computes the features, warns, and goes on."""
    from dcesynth.evaluation.feature_cache import Features

    (tmp_path / "results").write_text("not a folder")
    real, _ = _real_and_fake(n=3)
    calls = []
    features = Features(_counting_radiomics(calls), "frd", tmp_path / "results" / "features")
    with caplog.at_level("WARNING", logger="dcesynth"):
        got = features.real(real)
    assert got.shape[0] == 3 and calls == [3] and "no lock" in caplog.text and "not written" in caplog.text


# One job of the concurrency test, in its own interpreter: a fast extractor with large rows (2048
# features per slice, as the FID networks') so that an entry takes many writes; the cache, not a
# network, is under test. It reads the entry 40 times, deleting it now and then as a user clearing
# the folder would (the entry is then written again while the others read), and counts refusals.
CACHE_JOB = """
import logging, sys
from pathlib import Path
import numpy as np
from dcesynth.evaluation.feature_cache import Features

class Projection:
    provenance = "fixed random projection"
    def __call__(self, slices):
        w = np.random.default_rng(0).standard_normal((slices[0].size, 2048))
        return slices.reshape(len(slices), -1).astype(np.float64) @ w

root, out = Path(sys.argv[1]), Path(sys.argv[2])
refused = []
handler = logging.Handler(logging.WARNING)
handler.emit = refused.append
logging.getLogger("dcesynth").addHandler(handler)
real = np.random.default_rng(3).integers(0, 256, (64, 16, 16), dtype=np.uint8)
results = []
for i in range(40):
    features = Features(Projection(), "fid", root)
    if i % 3 == 2:
        for entry in root.rglob("*.npy"):
            entry.unlink(missing_ok=True)
    results.append(features.real(real))
np.save(out, np.stack(results))
print(len(refused))
"""


def test_concurrent_jobs_share_the_cache_without_partial_entries(tmp_path):
    """Four processes (jobs on one node, or on a cluster's shared file system) fill and read the
    same 1 MB entry over and over, deleting it now and then: none ever sees a partial entry (none
    refused), all get the same features, and no temporary file is left."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", CACHE_JOB, str(tmp_path / "cache"), str(tmp_path / f"out{i}.npy")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-800:] for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["0"] * 4  # no job ever read a partial entry
    results = [np.load(tmp_path / f"out{i}.npy") for i in range(4)]
    assert all(np.array_equal(r, np.broadcast_to(results[0][0], r.shape)) for r in results)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1 and not list((tmp_path / "cache").rglob(".*tmp"))


def test_jobs_starting_together_compute_an_entry_once(tmp_path):
    """Three jobs that need the same real slices at once (two epochs, or two runs, starting
    together): one computes them (a slow extractor here, 2 s), the others wait for its lock and read."""
    import subprocess
    import sys

    job = CACHE_JOB.split("root, out =")[0] + """
import time
class Slow(Projection):
    def __call__(self, slices):
        time.sleep(2)
        return super().__call__(slices)
f = Features(Slow(), "fid", Path(sys.argv[1]))
f.real(np.random.default_rng(3).integers(0, 256, (64, 16, 16), dtype=np.uint8))
print(f.computed, f.read)
"""
    procs = [subprocess.Popen([sys.executable, "-c", job, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 3, [err[-800:] for _, err in outputs]
    counts = sorted(tuple(map(int, out.split())) for out, _ in outputs)
    assert counts == [(0, 64), (0, 64), (64, 0)]


def test_the_epoch_table_names_each_metrics_network(tmp_path):
    """One row per epoch, the means as columns and each network's provenance beside them; a per-epoch
    table of a tree made before the provenance column's rename (``source``) reads the same."""


    from dcesynth.evaluation.epochs import epoch_table

    rows = {"metric": ["ssim", "fid_imagenet"], "mean": [0.5, 12.0], "sd": [0.1, 0.0], "n": [8, 8]}
    new, old = tmp_path / "epoch_2.tsv", tmp_path / "epoch_1.tsv"
    pd.DataFrame({**rows, "provenance": ["analytic", "UNTRAINED x"]}).to_csv(new, sep="\t", index=False)
    pd.DataFrame({**rows, "source": ["analytic", "UNTRAINED y"]}).to_csv(old, sep="\t", index=False)
    table = epoch_table({2: new, 1: old}, cohort="c")
    assert list(table["epoch"]) == [1, 2] and list(table["ssim"]) == [0.5, 0.5]
    assert list(table["fid_imagenet_provenance"]) == ["UNTRAINED y", "UNTRAINED x"]
    assert "ssim_provenance" not in table and list(table.columns)[-2:] == ["fid_imagenet_provenance", "cohort"]
