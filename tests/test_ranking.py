"""Ranking synthesis models by the mean of per-metric ranks (MAMA-SYNTH style) and its case
bootstrap, on hand-made tables whose ranks are worked out in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dcesynth.evaluation.ranking import borda, rank_models

HIGHER = {"ssim", "dice"}


def test_borda_hand_computed_with_ties():
    means = pd.DataFrame(
        {"mse": [10.0, 20.0, 20.0, 40.0], "ssim": [0.7, 0.9, 0.8, 0.8], "dice": [0.5, 0.6, 0.6, np.nan]},
        index=["A", "B", "C", "pre"],
    )
    out = borda(means, HIGHER)
    # mse (lower better): A 1, B and C tie for 2-3 -> 2.5 each, pre 4
    assert out["rank_mse"].tolist() == [1.0, 2.5, 2.5, 4.0]
    # ssim (higher better): B 1, C and pre tie for 2-3 -> 2.5, A 4
    assert out["rank_ssim"].tolist() == [4.0, 1.0, 2.5, 2.5]
    # dice: B and C tie for 1-2 -> 1.5, A 3, pre has no value -> last (4)
    assert out["rank_dice"].tolist() == [3.0, 1.5, 1.5, 4.0]
    # mean ranks: A 8/3, B 5/3, C 6.5/3, pre 10.5/3 -> ranks 3, 1, 2, 4
    np.testing.assert_allclose(out["mean_rank"], [8 / 3, 5 / 3, 6.5 / 3, 10.5 / 3])
    assert out["rank"].tolist() == [3, 1, 2, 4]


def test_tied_scores_share_the_best_rank():
    means = pd.DataFrame({"mse": [1.0, 2.0, 3.0], "ssim": [0.5, 0.9, 0.7]}, index=["A", "B", "C"])
    # A: 1 + 3 = 4, B: 2 + 1 = 3, C: 3 + 2 = 5 -> B 1, A 2, C 3; then make A and B tie
    assert borda(means, HIGHER)["rank"].tolist() == [2, 1, 3]
    means.loc["A", "ssim"] = 0.95  # A: 1 + 1, B: 2 + 2, C: 3 + 3 -> A 1, B 2, C 3
    assert borda(means, HIGHER)["rank"].tolist() == [1, 2, 3]
    tied = pd.DataFrame({"mse": [1.0, 2.0, 3.0], "ssim": [0.5, 0.9, 0.1]}, index=["A", "B", "C"])
    # A: 1 + 2 = 3, B: 2 + 1 = 3, C: 6 -> A and B share rank 1, C is 3 (competition ranking)
    assert borda(tied, HIGHER)["rank"].tolist() == [1, 1, 3]


def _per_case(values: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "case": f"c{i}", "mse": a, "ssim": b}
                         for m, rows in values.items() for i, (a, b) in enumerate(rows)])  # fmt: skip


def test_bootstrap_of_a_clear_winner_and_of_a_coin_toss():
    # "good" beats "bad" on every case and metric: rank 1 in every draw
    table = _per_case({"good": [(1.0, 0.9)] * 6, "bad": [(5.0, 0.2)] * 6})
    out = rank_models(table, ["mse", "ssim"], HIGHER, n_bootstrap=200, seed=1)
    assert out["model"].tolist() == ["good", "bad"]
    assert out["p_rank_1"].tolist() == [1.0, 0.0] and out["p_same_rank"].tolist() == [1.0, 1.0]
    assert set(out.columns) >= {"mse", "ssim", "rank_mse", "rank_ssim", "mean_rank", "rank", "p_rank_2", "n_cases"}
    # x wins on cases 0-2, y on cases 3-5 by the same margins: on the full set they tie on both
    # metrics and share rank 1; a draw with more x-cases makes x first. Rank 1 is then held in
    # every draw by at least one of them, and the shares are seeded (the same table twice).
    coin = _per_case({"x": [(1.0, 0.9)] * 3 + [(3.0, 0.5)] * 3, "y": [(3.0, 0.5)] * 3 + [(1.0, 0.9)] * 3})
    a = rank_models(coin, ["mse", "ssim"], HIGHER, n_bootstrap=500, seed=2)
    b = rank_models(coin, ["mse", "ssim"], HIGHER, n_bootstrap=500, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert a["rank"].tolist() == [1, 1]
    p1 = dict(zip(a["model"], a["p_rank_1"]))
    assert 0.3 < p1["x"] < 0.8 and 0.3 < p1["y"] < 0.8
    assert (a["p_rank_1"] + a["p_rank_2"]).round(12).tolist() == [1.0, 1.0]


def test_models_must_share_their_cases():
    table = _per_case({"x": [(1.0, 0.9)] * 3, "y": [(1.0, 0.9)] * 2})
    with pytest.raises(ValueError, match="other cases"):
        rank_models(table, ["mse", "ssim"], HIGHER, n_bootstrap=10)
    dup = pd.concat([_per_case({"x": [(1.0, 0.9)]}), _per_case({"x": [(2.0, 0.9)]})])
    with pytest.raises(ValueError, match="two rows for one case"):
        rank_models(dup, ["mse", "ssim"], HIGHER, n_bootstrap=10)


def test_the_scores_of_one_case_on_its_largest_tumour_slice():
    from dcesynth.evaluation.features import lpips_network
    from dcesynth.evaluation.ranking import largest_tumour_slice, slice_scores, tumour_box

    mask = np.zeros((4, 20, 24), bool)
    mask[1, 5:8, 6:9] = True
    mask[2, 4:10, 5:12] = True  # the largest area
    assert largest_tumour_slice(mask) == 2
    assert tumour_box(mask[2], (2, 3)) == (slice(2, 12), slice(2, 15))
    assert tumour_box(mask[2], (9, 9)) == (slice(0, 19), slice(0, 21))  # clipped at the border
    rng = np.random.default_rng(0)
    real = rng.uniform(0, 255, (20, 24))
    net = lpips_network({"mode": "random", "net": "alex", "weights": None, "seed": 0})
    same = slice_scores(real, real, tumour_box(mask[2], (2, 2)), net)
    assert same["mse"] == 0 and abs(same["ssim_tumour"] - 1) < 1e-6 and abs(same["lpips"]) < 1e-6
    worse = real.copy()
    worse[4:10, 5:12] = 0  # the tumour region wiped out
    off = slice_scores(real, worse, tumour_box(mask[2], (2, 2)), net)
    assert off["mse"] > 0 and off["ssim_tumour"] < 0.75 and off["lpips"] > 0
    assert np.isnan(slice_scores(real, worse, tumour_box(mask[2], (2, 2)))["lpips"])  # LPIPS off
