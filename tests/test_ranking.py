"""Ranking synthesis models by the mean of per-metric ranks (MAMA-SYNTH's flat Borda count) and its
case bootstrap, on hand-made tables whose ranks are worked out in the comments."""

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


def test_a_case_no_model_was_scored_on_leaves_that_metric_only():
    # case c2 has no Dice for any model (the segmenter did not test it): Dice is the mean of c0, c1
    table = pd.DataFrame([
        {"model": "A", "case": "c0", "mse": 1.0, "dice": 0.8}, {"model": "A", "case": "c1", "mse": 1.0, "dice": 0.6},
        {"model": "A", "case": "c2", "mse": 9.0, "dice": np.nan},
        {"model": "B", "case": "c0", "mse": 2.0, "dice": 0.2}, {"model": "B", "case": "c1", "mse": 2.0, "dice": 0.4},
        {"model": "B", "case": "c2", "mse": 2.0, "dice": np.nan},
    ])  # fmt: skip
    out = rank_models(table, ["mse", "dice"], HIGHER, n_bootstrap=50, seed=0).set_index("model")
    assert out.loc["A", "dice"] == pytest.approx(0.7) and out.loc["B", "dice"] == pytest.approx(0.3)
    assert out.loc["A", "mse"] == pytest.approx(11 / 3)  # mse keeps every case
    # A: mse rank 2, dice rank 1; B: 1, 2 -> both mean rank 1.5, rank 1
    assert out["rank"].tolist() == [1, 1]
    # a value only B lacks on a scored case: B's Dice is NaN and B ranks last on Dice
    table.loc[(table["model"] == "B") & (table["case"] == "c1"), "dice"] = np.nan
    out = rank_models(table, ["mse", "dice"], HIGHER, n_bootstrap=50, seed=0).set_index("model")
    assert np.isnan(out.loc["B", "dice"]) and out.loc["B", "rank_dice"] == 2.0


def test_a_set_metric_is_computed_again_on_every_draw():
    table = _per_case({"x": [(1.0, 0.5)] * 4, "y": [(1.0, 0.5)] * 4})  # tied on the per-case metrics
    draws = []

    def spread(ids):  # x is better on draws with more of c0, y on the others
        draws.append(list(ids))
        share = ids.count("c0") / len(ids)
        return {"x": 1 - share, "y": share}

    out = rank_models(table, ["mse", "ssim"], HIGHER, n_bootstrap=300, seed=3, set_metrics={"frd": spread})
    assert len(draws) == 301 and draws[0] == ["c0", "c1", "c2", "c3"]  # the full set first, then each draw
    full = out.set_index("model")
    assert full.loc["x", "frd"] == pytest.approx(0.75) and full.loc["y", "frd"] == pytest.approx(0.25)
    assert full.loc["y", "rank"] == 1 and full.loc["x", "rank"] == 2 and "rank_frd" in out.columns
    # c0 is in about 68 % of the draws at 1/4: y is not first in every draw
    assert 0.5 < full.loc["y", "p_rank_1"] < 1.0


def test_the_baseline_is_an_irrelevant_alternative():
    """The issue's example: A ranks first and B second on five metrics (A: 1, 2, 1, 2, 1 -> 1.4;
    B: 2, 1, 2, 1, 2 -> 1.6). A baseline C that sits between them on the two metrics B wins (and last
    on the rest) makes B first in a plain Borda count (A 1.8, B 1.6); kept apart, it changes nothing, and
    has its own row with its metrics and no rank."""
    metrics = ["m1", "m2", "m3", "m4", "m5"]  # lower is better on each
    values = {"A": [1, 3, 1, 3, 1], "B": [3, 1, 3, 1, 3], "C": [9, 2, 9, 2, 9]}
    table = pd.DataFrame([{"model": m, "case": "c0", **dict(zip(metrics, v))} for m, v in values.items()])
    alone = rank_models(table[table["model"] != "C"], metrics, (), n_bootstrap=20, seed=0)
    assert alone["model"].tolist() == ["A", "B"] and alone["mean_rank"].tolist() == pytest.approx([1.4, 1.6])
    plain = rank_models(table, metrics, (), n_bootstrap=20, seed=0).set_index("model")
    assert plain.loc[["A", "B"], "mean_rank"].tolist() == pytest.approx([1.8, 1.6])
    assert plain.loc["B", "rank"] < plain.loc["A", "rank"]  # the Borda paradox the baseline would cause
    apart = rank_models(table, metrics, (), n_bootstrap=20, seed=0, baseline="C")
    assert apart["model"].tolist() == ["A", "B", "C"] and apart["rank"].tolist()[:2] == [1, 2]
    pd.testing.assert_frame_equal(apart.iloc[:2].drop(columns="rank"), alone.drop(columns="rank"), check_dtype=False)
    baseline = apart.iloc[2]
    assert pd.isna(baseline["rank"]) and pd.isna(baseline["mean_rank"]) and baseline["m1"] == 9
    # removing the baseline's rows leaves the runs' ranking as it was, on any table
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = [{"model": m, "case": f"c{k}", **dict(zip(metrics, rng.uniform(0, 1, 5)))}
                for m in ("r1", "r2", "r3", "base") for k in range(3)]  # fmt: skip
        t = pd.DataFrame(rows)
        with_base = rank_models(t, metrics, ("m2",), n_bootstrap=10, seed=1, baseline="base")
        without = rank_models(t[t["model"] != "base"], metrics, ("m2",), n_bootstrap=10, seed=1)
        assert with_base["model"].tolist()[:3] == without["model"].tolist()
