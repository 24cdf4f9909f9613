"""The synthesis model families beside pix2pixHD (dcesynth.models): shapes, one training step
lowers the loss on a fixed batch, export/load round trip. Small seeded networks on 32 px slices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dcesynth import models as M
from dcesynth.models import files as F
from dcesynth.errors import ConfigError, InputError

SMALL = {"unet": {"ngf": 8, "depth": 2}, "nca": {"channels": 12, "hidden": 32, "steps": 8},
         "flow": {"ngf": 8, "depth": 2, "sample_steps": 2}}  # fmt: skip


def _batch(n=4, size=32):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return x, (x * 0.8 + 0.3).clamp(-1, 1)  # a brighter "post-contrast" image


def test_one_registry_builds_every_family_pix2pixhd_included():
    """pix2pixHD is built through the registry as the others are, and the registry (which the plan
    reads at parse time) imports no torch."""
    import subprocess
    import sys

    from dcesynth.models.pix2pixhd.networks import GlobalGenerator

    assert list(M.FAMILIES) == ["pix2pixHD", "unet", "nca", "flow", "external"]
    with pytest.raises(ConfigError, match="model family external: its images come from outside"):
        M.build_model("external")
    G = M.build_model("pix2pixHD", {"ngf": 8, "n_downsample_global": 1, "n_blocks_global": 1}, 3, 3)
    assert isinstance(G, GlobalGenerator) and G.model[1].out_channels == 8
    with pytest.raises(ConfigError, match="model family pix2pixHD: unknown generator options"):
        M.build_model("pix2pixHD", {"widths": 3})
    code = "import sys, dcesynth.models, dcesynth.plan; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("family", list(SMALL))
def test_shapes_range_and_deterministic_translation(family):
    torch.manual_seed(0)
    model = M.build_model(family, SMALL[family], input_nc=3, output_nc=1).eval()
    x, _ = _batch()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert a.shape == (4, 1, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)


@pytest.mark.parametrize("family", list(SMALL))
def test_one_training_step_lowers_the_loss_on_a_fixed_batch(family):
    torch.manual_seed(0)
    model = M.build_model(family, SMALL[family]).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _batch()

    def loss():  # the same noise, times and update masks every time it is evaluated
        return model.training_loss(x, y, generator=torch.Generator().manual_seed(5))[0]

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    assert torch.isfinite(before) and after < before, (family, before.item(), after.item())


@pytest.mark.parametrize("family", list(SMALL))
def test_export_load_round_trip(tmp_path, family):
    torch.manual_seed(1)
    model = M.build_model(family, SMALL[family]).eval()
    F.save_model(tmp_path / "m.pt", family, SMALL[family], model, 3, 3, meta={"epoch": 2})
    loaded, record = F.load_model(tmp_path / "m.pt")
    assert record["family"] == family and record["meta"] == {"epoch": 2}
    x, _ = _batch(2)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a readable model file"):
        F.load_model(tmp_path / "cut.pt")


@pytest.mark.parametrize("family", list(SMALL))
def test_synthesis_translates_with_every_family(family):
    """dcesynth.models.infer.translate (the synthesis path) takes a family's model as it takes a generator."""
    import numpy as np

    from dcesynth.models.infer import translate

    torch.manual_seed(2)
    model = M.build_model(family, SMALL[family]).eval()
    stack = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    out = translate(model, stack, batch_size=2)
    assert out.shape == (3, 3, 32, 32) and out.dtype == np.uint8
    assert np.array_equal(out, translate(model, stack, batch_size=3))


def test_sizes_and_refusals():
    # the published anchors' sizes: U-Net 31 M (ngf 64, depth 4), TeNCA-like NCA in the tens of thousands
    assert 30e6 < M.n_parameters(M.build_model("unet", {"ngf": 64, "depth": 4})) < 32e6
    assert 1e4 < M.n_parameters(M.build_model("nca")) < 1e5
    with pytest.raises(ConfigError, match="not one of pix2pixHD, unet, nca, flow"):
        M.build_model("diffusion")
    with pytest.raises(ConfigError, match="model family unet"):
        M.build_model("unet", {"widths": 3})
    with pytest.raises(ValueError, match="not a multiple of 4"):
        M.build_model("unet", {"ngf": 4, "depth": 2})(torch.zeros(1, 3, 30, 30))


# --- one training epoch per job, as for pix2pixHD (dcesynth.training.epoch) --------------------------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dcesynth.training.data import SlicePairs  # noqa: E402
from dcesynth.models import targets  # noqa: E402
from dcesynth.training import checkpoints as S  # noqa: E402
from dcesynth.training import epoch as T  # noqa: E402


def _pairs(tmp_path, n_cases=2, slices=6, size=32):
    rng = np.random.default_rng(4)
    files = {}
    for c in range(n_cases):
        pre = rng.integers(0, 200, (slices, size, size), dtype=np.uint8)
        post = np.clip(pre.astype(int) + 40 * (rng.random((slices, size, size)) > 0.8), 0, 255).astype(np.uint8)
        files[f"c{c}"] = {}
        for seq, arr in (("pre", pre), ("post1", post)):
            np.save(tmp_path / f"c{c}_{seq}.npy", arr)
            files[f"c{c}"][seq] = str(tmp_path / f"c{c}_{seq}.npy")
    return files


def _cfg(family, target="post"):
    return {"family": family, "options": SMALL[family], "target": target, "channels": 1, "targets": ["post1"],
            "batch_size": 4, "lr": 2e-3, "beta1": 0.5, "niter": 1, "niter_decay": 1, "seed": 7,
            "augment_probability": 0.5, "lambda_perceptual": 0, "vgg": {"mode": "off"}}  # fmt: skip


_KILLED_EPOCH = """
import sys, torch
from dcesynth.training.data import SlicePairs
from dcesynth.training import epoch as T
files, cfg = eval(sys.argv[1]), eval(sys.argv[2])
pairs = SlicePairs(files, "pre", ["post1"], 1)
T.train_epoch(sys.argv[3], sys.argv[4], sys.argv[5], pairs, cfg, 2, device="cpu")
"""


@pytest.mark.parametrize("family", list(SMALL))
def test_a_killed_family_epoch_leaves_nothing_and_reruns_to_the_same_result(tmp_path, family):
    """Epoch 2 killed midway (SIGKILL) writes neither state nor loss table; the rerun equals an
    epoch that was never killed, bit for bit (model, optimiser, RNG)."""
    files = _pairs(tmp_path)
    pairs = SlicePairs(files, "pre", ["post1"], 1)
    cfg = _cfg(family)
    torch.save(T.init_state(cfg), tmp_path / "e0.pt")
    T.train_epoch(tmp_path / "e0.pt", tmp_path / "e1.pt", tmp_path / "l1.tsv", pairs, cfg, 1, device="cpu")
    # the killed run: a long epoch (every pair 40 times over), killed once it is under way
    long_files = {f"{c}_{k}": v for k in range(40) for c, v in files.items()}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_EPOCH, repr(long_files), repr(cfg), str(tmp_path / "e1.pt"),
                             str(tmp_path / "k2.pt"), str(tmp_path / "k2.tsv")], stderr=subprocess.PIPE, text=True)  # fmt: skip
    seen, deadline = "", time.monotonic() + 120
    while "epoch 2:" not in seen and time.monotonic() < deadline:  # the progress bar has started
        char = proc.stderr.read(1)
        assert char, "the epoch ended before it was killed:\n" + seen[-2000:]
        seen += char
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(tmp_path.glob("k2*")) and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    runs = []
    for k in range(2):
        T.train_epoch(tmp_path / "e1.pt", tmp_path / f"e2_{k}.pt", tmp_path / f"l2_{k}.tsv", pairs, cfg, 2, device="cpu")
        runs.append(torch.load(tmp_path / f"e2_{k}.pt", weights_only=True))
    a, b = runs
    assert a["epoch"] == 2 and torch.equal(a["rng"], b["rng"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (tmp_path / "l2_0.tsv").read_text() == (tmp_path / "l2_1.tsv").read_text()
    # the learning rate decays in epoch 2 (niter 1, niter_decay 1) and the weights moved
    e1 = torch.load(tmp_path / "e1.pt", weights_only=True)
    assert any(not torch.equal(a["model"][k], e1["model"][k]) for k in a["model"])


def test_a_state_of_another_shape_is_refused(tmp_path):
    files = _pairs(tmp_path, n_cases=1)
    torch.save(T.init_state(_cfg("nca")), tmp_path / "e0.pt")
    with pytest.raises(ConfigError, match="start a new run name"):
        T.train_epoch(tmp_path / "e0.pt", tmp_path / "e1.pt", tmp_path / "l.tsv", SlicePairs(files, "pre", ["post1"], 1),
                      _cfg("nca", target="subtraction"), 1, device="cpu")  # fmt: skip
    with pytest.raises(InputError, match="holds epoch 0, expected 1"):
        T.train_epoch(tmp_path / "e0.pt", tmp_path / "e2.pt", tmp_path / "l.tsv", SlicePairs(files, "pre", ["post1"], 1),
                      _cfg("nca"), 2, device="cpu")  # fmt: skip


def test_a_subtraction_model_synthesises_post_contrast_images(tmp_path):
    """target: subtraction. The model learns (post - pre) / 2; its export loads as a post-contrast
    model (pre + 2 x its output). A U-Net whose last layer is zero predicts no enhancement, so it
    returns the pre-contrast image itself."""
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    y = (x + 0.3).clamp(-1, 1)
    assert torch.allclose(targets.from_target(x, targets.to_target(x, y, "subtraction"), "subtraction"), y)
    files = _pairs(tmp_path, n_cases=1)
    cfg = _cfg("unet", target="subtraction")
    state = T.init_state(cfg)
    state["model"] = {k: torch.zeros_like(v) if k.startswith("head.") else v for k, v in state["model"].items()}
    torch.save(state, tmp_path / "e0.pt")
    S.export_generator(tmp_path / "e0.pt", tmp_path / "m0.pt")
    model, record = F.load_model(tmp_path / "m0.pt")
    assert isinstance(model, targets.SubtractionModel) and record["meta"]["target"] == "subtraction"
    with torch.no_grad():
        assert torch.allclose(model(x), x, atol=1e-6)
    T.train_epoch(tmp_path / "e0.pt", tmp_path / "e1.pt", tmp_path / "l1.tsv", SlicePairs(files, "pre", ["post1"], 1),
                  cfg, 1, device="cpu")  # fmt: skip
    S.export_generator(tmp_path / "e1.pt", tmp_path / "m1.pt")
    trained, record = F.load_model(tmp_path / "m1.pt")
    assert record["meta"]["epoch"] == 1
    with torch.no_grad():
        out = trained(x)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1 and not torch.allclose(out, x)


def test_max_pairs_per_epoch_limits_a_family_epoch(tmp_path):
    """max_pairs_per_epoch (a further model's training key, from the gan block): that many pairs per
    epoch in batches of batch_size, so ceil(limit / batch) loss rows; without it every pair."""
    import pandas as pd

    files = _pairs(tmp_path)
    pairs = SlicePairs(files, "pre", ["post1"], 1)
    rows = {}
    for limit in (None, 5):
        cfg = {**_cfg("unet"), "max_pairs_per_epoch": limit}
        torch.save(T.init_state(cfg), tmp_path / "e0.pt")
        T.train_epoch(tmp_path / "e0.pt", tmp_path / f"{limit}.pt", tmp_path / f"{limit}.tsv", pairs, cfg, 1, device="cpu")
        rows[limit] = len(pd.read_csv(tmp_path / f"{limit}.tsv", sep="\t"))
    assert rows == {None: -(-len(pairs) // 4), 5: 2}, (rows, len(pairs))


# --- what each family's paper defines ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_flow_velocity_depends_on_time(mode):
    """v(x_t, pre, t) of flow matching: the same x_t and pre at two times give different velocities
    (a constant time channel before an instance norm gave |dv| ~ 1e-6 |v|)."""
    torch.manual_seed(0)
    model = M.build_model("flow", SMALL["flow"])
    with torch.no_grad():  # a trained model's time layers are not zero: give them weights
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    getattr(model, mode)()
    x, y = _batch()
    with torch.no_grad():
        v0 = model.velocity(y, x, torch.zeros(4))
        v9 = model.velocity(y, x, torch.full((4,), 0.9))
    assert (v0 - v9).abs().mean() > 0.05 * v0.abs().mean(), ((v0 - v9).abs().mean(), v0.abs().mean())


def test_flow_noise_is_drawn_per_slice():
    """With a zero velocity a sample is its noise (clamped): two slices' noises are independent,
    and a slice's is the same in any batch."""
    torch.manual_seed(0)
    model = M.build_model("flow", SMALL["flow"]).eval()
    torch.nn.init.zeros_(model.net.head.weight)
    torch.nn.init.zeros_(model.net.head.bias)
    x, _ = _batch(3)
    with torch.no_grad():
        out = model(x)
        alone = model(x[2:3])
    a, b = out[0].flatten(), out[1].flatten()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1]) < 0.1 and a.std() > 0.5
    assert torch.equal(out[2:3], alone)


def test_the_nca_updates_a_random_share_of_cells_at_synthesis():
    """TeNCA's stochastic update holds at inference too: after one step about fire_rate of the cells
    changed, the same ones for a slice in any batch."""
    torch.manual_seed(0)
    model = M.build_model("nca", {"channels": 8, "hidden": 16, "steps": 1, "fire_rate": 0.5}).eval()
    torch.nn.init.constant_(model.update[-1].bias, 0.1)  # every cell would move by 0.1
    x, _ = _batch(3)
    with torch.no_grad():
        out = model(x)
        alone = model(x[1:2])
    changed = (out != x.clamp(-1, 1)).float()[:, 0].mean().item()
    assert 0.4 < changed < 0.6, changed
    assert torch.equal(out[1:2], alone)
    everyone = M.build_model("nca", {"channels": 8, "hidden": 16, "steps": 1, "fire_rate": 0.5,
                                     "stochastic_inference": False}).eval()  # fmt: skip
    everyone.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert (everyone(x) != x.clamp(-1, 1)).float()[:, 0].mean() > 0.95


def test_the_nca_image_evolves_and_perception_is_learned():
    model = M.build_model("nca", {"channels": 8, "hidden": 16, "steps": 4})
    assert model.update[-1].out_channels == 8  # every channel, the image's included
    assert {"p0.weight", "p1.weight"} <= set(model.state_dict())
    fixed = M.build_model("nca", {"channels": 8, "hidden": 16, "perception": "fixed"})
    assert "p0.weight" not in fixed.state_dict()


LEGACY = Path(__file__).parent / "data" / "legacy_models"  # written by the first version (make_legacy_models.py)


def test_first_version_model_files_still_load_and_compute_as_they_did():
    """Files written by the families' first version (dcesynth-model-1, before the NCA's and the
    flow's defaults changed) load with their old options and give the old code's outputs."""
    expected = np.load(LEGACY / "expected_v1.npz")
    x = torch.from_numpy(expected["x"])
    nca, record = F.load_model(LEGACY / "nca_v1.pt")
    assert record["options"]["perception"] == "fixed" and record["options"]["steps"] == 4
    with torch.no_grad():
        assert torch.allclose(nca(x), torch.from_numpy(expected["nca"]), atol=1e-6)
    flow, _ = F.load_model(LEGACY / "flow_v1.pt")
    with torch.no_grad():
        v = flow.velocity(x, x, torch.tensor([0.0, 0.5]))
    assert torch.allclose(v, torch.from_numpy(expected["flow_velocity"]), atol=1e-5)


def test_a_first_version_training_state_exports_but_does_not_train_on(tmp_path):
    """Its model still exports (as the old model), but an epoch is not trained on from it: its
    family's defaults changed, so the chain trains again from epoch 1 (the message says how)."""
    S.export_generator(LEGACY / "nca_state_v1.pt", tmp_path / "m.pt")
    model, record = F.load_model(tmp_path / "m.pt")
    expected = np.load(LEGACY / "expected_v1.npz")
    with torch.no_grad():
        assert torch.allclose(model(torch.from_numpy(expected["x"])), torch.from_numpy(expected["nca"]), atol=1e-6)
    state = torch.load(LEGACY / "nca_state_v1.pt", weights_only=True)
    files = _pairs(tmp_path, n_cases=1)
    with pytest.raises(InputError, match="an earlier version of the nca family .dcesynth-model-state-1.; delete"):
        T.train_epoch(LEGACY / "nca_state_v1.pt", tmp_path / "e4.pt", tmp_path / "l.tsv", SlicePairs(files, "pre", ["post1"], 3),
                      state["config"], 4, device="cpu")  # fmt: skip


def test_nca_perception_filters_learn():
    model = M.build_model("nca", {"channels": 8, "hidden": 16, "steps": 3}).train()
    torch.nn.init.normal_(model.update[-1].weight, std=0.1)  # past the identity start
    x, y = _batch(2, 16)
    loss, _ = model.training_loss(x, y, generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert model.p0.weight.grad.abs().sum() > 0 and model.p1.weight.grad.abs().sum() > 0
