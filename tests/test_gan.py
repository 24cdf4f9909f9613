"""pix2pixHD: NVIDIA compatibility, losses, schedule, data, deterministic resumable training.

Networks here are small and seeded (ngf 4–8); the fixture generator comes from ../shared/data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from dcesynth.errors import ConfigError, InputError
from dcesynth.models.infer import translate
from dcesynth.models.pix2pixhd.networks import build_discriminator, build_generator
from dcesynth.training.checkpoints import load_generator
from dcesynth.training import checkpoints as S
from dcesynth.training import epoch as T
from dcesynth.training.data import SlicePairs
from dcesynth.training.manifest import read_manifest, write_manifest
from dcesynth.models.pix2pixhd.losses import feature_matching_loss, lsgan_loss
from dcesynth.training.perceptual import VGG_SLICES, VGGLoss
from dcesynth.models.pix2pixhd.networks import infer_generator_options
from conftest import default_config, deep_update, TINY


def test_fixture_generator_reproduces_nvidia_output(shared):
    fx = torch.load(shared / "data" / "pix2pixhd_tiny_global_G_fixture.pt", weights_only=True)
    G = build_generator(**fx["options"])
    G.load_state_dict(fx["state_dict"])
    with torch.no_grad():
        out = G.eval()(fx["input"])
    assert torch.allclose(out, fx["output"], atol=1e-5)
    assert infer_generator_options(fx["state_dict"]) == fx["options"]


@pytest.mark.parametrize(
    "table, net",
    [
        ("pix2pixhd_global_G_state_dict.tsv", lambda: build_generator()),
        ("pix2pixhd_multiscale_D_state_dict.tsv", lambda: build_discriminator(6, ndf=64, n_layers_D=3, num_D=2)),
    ],
)
def test_state_dict_keys_and_shapes_match_nvidia(shared, table, net):
    rows = list(csv.DictReader(open(shared / "data" / table), delimiter="\t"))
    sd = net().state_dict()
    assert list(sd) == [r["key"] for r in rows]
    assert ["x".join(map(str, sd[r["key"]].shape)) for r in rows] == [r["shape"] for r in rows]


def test_nvidia_net_g_file_loads_unchanged(tmp_path, shared):
    fx = torch.load(shared / "data" / "pix2pixhd_tiny_global_G_fixture.pt", weights_only=True)
    plain, wrapped = tmp_path / "30_net_G.pth", tmp_path / "dp_net_G.pth"
    torch.save(fx["state_dict"], plain)
    torch.save({f"module.{k}": v for k, v in fx["state_dict"].items()}, wrapped)
    for path in (plain, wrapped):
        with torch.no_grad():
            assert torch.allclose(load_generator(path)(fx["input"]), fx["output"], atol=1e-5)
    with pytest.raises(InputError, match="weights do not fit"):
        load_generator(plain, options={**fx["options"], "ngf": 16})


def test_local_enhancer_and_options():
    G = build_generator(netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1)
    assert G(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert any(k.startswith("model1_1.") for k in G.state_dict())
    with pytest.raises(ValueError, match="unknown generator options"):
        build_generator(ngf=4, dropout=True)


def test_learning_rate_schedule_matches_pix2pixhd():
    lrs = [T.learning_rate(e, 2e-4, 100, 100) for e in range(1, 201)]
    assert lrs[:101] == [2e-4] * 101
    assert lrs[101] == pytest.approx(2e-4 * 0.99)
    assert lrs[-1] == pytest.approx(2e-4 / 100)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_losses_by_hand():
    real = [[torch.ones(1, 1, 2, 2) * 0.5, torch.full((1, 1, 2, 2), 0.8)]]
    fake = [[torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.3)]]
    assert lsgan_loss(real, True).item() == pytest.approx(0.2**2)
    assert lsgan_loss(fake, False).item() == pytest.approx(0.3**2)
    # one intermediate feature, n_layers=3: weight 4/(3+1) * 1/num_D(1) * L1 = 1 * 0.5
    assert feature_matching_loss(fake, real, n_layers=3).item() == pytest.approx(0.5)


def test_vgg_loss_needs_a_file_or_an_explicit_choice(tmp_path):
    with pytest.raises(ConfigError, match="gan.vgg.weights"):
        VGGLoss("pretrained", None)
    with pytest.raises(ConfigError, match="does not exist"):
        VGGLoss("pretrained", str(tmp_path / "missing.pth"))
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    path = tmp_path / "vgg19.pth"  # torchvision's VGG19 keys; the classifier's (unused, 0.5 GB) left out
    torch.save({f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}, path)
    loss = VGGLoss("pretrained", str(path))
    assert loss.provenance["sha256"] and loss.provenance["file"] == str(path)
    a, b = torch.rand(1, 1, 32, 32) * 2 - 1, torch.rand(1, 1, 32, 32) * 2 - 1
    assert loss(a, a).item() == 0.0 and loss(a, b).item() > 0  # grey input works
    r1, r2 = VGGLoss("random", seed=3), VGGLoss("random", seed=3)
    assert r1(a, b).item() == r2(a, b).item()
    torch.save({k: v for k, v in torch.load(path).items() if k != "features.34.weight"}, tmp_path / "partial.pth")
    with pytest.raises(ConfigError, match='partial.pth is not a torchvision VGG19 state dict: Missing key.* "34.weight"'):
        VGGLoss("pretrained", str(tmp_path / "partial.pth"))


def test_the_seeded_vgg19_is_torchvisions_without_importing_torchvision(tmp_path):
    """gan.vgg.mode: random builds torchvision's seeded VGG19 features bit for bit, in a process that
    never imports torchvision (whose models package costs every epoch job 1.5 s)."""
    import subprocess
    import sys

    from torchvision.models import vgg19

    code = ("import sys, torch; from dcesynth.training.perceptual import VGGLoss; "
            f"loss = VGGLoss('random', seed=3); torch.save(loss.state_dict(), {str(tmp_path / 'ours.pt')!r}); "
            "assert 'torchvision' not in sys.modules, 'torchvision imported'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1] / "workflow")
    ours = torch.load(tmp_path / "ours.pt")
    torch.manual_seed(3)
    theirs = vgg19(weights=None).features
    expected = {f"slices.{i}.{j}.{name}": v for i, (a, b) in enumerate(VGG_SLICES) for j, layer in enumerate(theirs[a:b])
                for name, v in layer.state_dict().items()}  # fmt: skip
    assert list(ours) == list(expected)
    assert all(torch.equal(ours[k], expected[k]) for k in ours)


@pytest.fixture()
def slice_files(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for case in ("c1", "c2"):
        (tmp_path / case).mkdir()
        pre = rng.integers(0, 200, (5, 16, 16), dtype=np.uint8)
        for seq, arr in (("pre", pre), ("post1", np.clip(pre.astype(int) + 40, 0, 255)), ("post2", 255 - pre)):
            np.save(tmp_path / case / f"{seq}.npy", arr.astype(np.uint8))
            files.setdefault(case, {})[seq] = str(tmp_path / case / f"{seq}.npy")
    return files


def test_slice_pairs(slice_files):
    pairs = SlicePairs(slice_files, "pre", ["post1"], channels=3)
    assert len(pairs) == 10 and pairs.output_nc == 3
    x, y = pairs.pair(0)
    raw = np.load(slice_files["c1"]["pre"])[0]
    assert x.shape == (3, 16, 16) and torch.allclose(x[0], torch.tensor(raw / 127.5 - 1, dtype=torch.float32), atol=1e-6)
    xr, yr = pairs.pair(0, augment=True)  # rot90, the default: the paper's text
    assert torch.equal(xr, torch.rot90(x, 1, (1, 2))) and torch.equal(yr, torch.rot90(y, 1, (1, 2)))
    # flip (the authors' code: NVIDIA's left-right flip) mirrors the columns of input and target alike
    flip = SlicePairs(slice_files, "pre", ["post1"], channels=3, augment="flip")
    xf, yf = flip.pair(0, augment=True)
    assert torch.allclose(xf[0], torch.tensor(raw[:, ::-1] / 127.5 - 1, dtype=torch.float32), atol=1e-6)
    assert torch.equal(yf, y[:, :, torch.arange(15, -1, -1)])
    none = SlicePairs(slice_files, "pre", ["post1"], channels=3, augment="none")
    assert all(torch.equal(a, b) for a, b in zip(none.pair(0, augment=True), (x, y)))
    with pytest.raises(ValueError, match="gan.augment"):
        SlicePairs(slice_files, "pre", ["post1"], augment="rot180")
    # the training job and the distributed workers build their pairs from the training keys
    from dcesynth.training.data import training_pairs

    cfg = {"input": "pre", "targets": ["post1"], "channels": 3, "augment": "flip"}
    assert torch.equal(training_pairs(slice_files, cfg).pair(0, augment=True)[0], xf)
    multi = SlicePairs(slice_files, "pre", ["post1", "post2"], channels=1)
    x, y = multi.pair(3)
    assert x.shape == (1, 16, 16) and y.shape == (2, 16, 16)
    b1 = [t.clone() for t, _ in pairs.batches(4, torch.Generator().manual_seed(1), 0.5)]
    b2 = [t.clone() for t, _ in pairs.batches(4, torch.Generator().manual_seed(1), 0.5)]
    assert len(b1) == 3 and all(torch.equal(a, b) for a, b in zip(b1, b2))


def gan_cfg(**kw):
    cfg = deep_update(default_config(), TINY)["gan"]
    cfg = {k: v for k, v in cfg.items() if k not in ("eval_every", "eval_epochs", "preview", "run")}
    return deep_update(cfg, kw)


def test_training_is_deterministic_and_resumable(tmp_path, slice_files):
    cfg = gan_cfg(generator={"ngf": 4}, discriminator={"ndf": 4})
    pairs = SlicePairs(slice_files, "pre", ["post1"], 3)
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    for tag in ("a", "b"):
        T.train_epoch(tmp_path / "e0.pt", tmp_path / f"{tag}1.pt", tmp_path / f"{tag}1.tsv", pairs, cfg, 1, "cpu", 1)
        T.train_epoch(tmp_path / f"{tag}1.pt", tmp_path / f"{tag}2.pt", tmp_path / f"{tag}2.tsv", pairs, cfg, 2, "cpu", 1)
    a, b = S.load_state(tmp_path / "a2.pt"), S.load_state(tmp_path / "b2.pt")
    assert a["epoch"] == 2 and a["meta"]["vgg"]["mode"] == "random"
    for k in a["generator"]:
        assert torch.equal(a["generator"][k], b["generator"][k]), k
    assert (tmp_path / "a2.tsv").read_text() == (tmp_path / "b2.tsv").read_text()
    with pytest.raises(InputError, match="holds epoch 2, expected 1"):
        T.train_epoch(tmp_path / "a2.pt", tmp_path / "x.pt", tmp_path / "x.tsv", pairs, cfg, 2, "cpu", 1)
    data = (tmp_path / "a2.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.pt: corrupt or truncated state file"):
        S.load_state(tmp_path / "cut.pt")
    assert not (tmp_path / "x.pt").exists()
    S.export_generator(tmp_path / "a2.pt", tmp_path / "g2.pt")
    # the precision key is part of the state's config; what ran is in its metadata (CPU: fp32)
    assert a["config"]["precision"] == "fp32" and a["meta"]["precision"] == "fp32"
    assert S.generator_provenance(tmp_path / "g2.pt") == {
        "generator_epoch": 2, "generator_vgg": "UNTRAINED (seeded random VGG19)", "generator_precision": "fp32"}  # fmt: skip
    G = load_generator(tmp_path / "g2.pt")
    stack = np.load(slice_files["c1"]["pre"])
    out = translate(G, stack, batch_size=2)
    assert out.shape == (5, 3, 16, 16) and out.dtype == np.uint8
    with torch.no_grad():
        direct = G(torch.tensor(stack[:1] / 127.5 - 1, dtype=torch.float32)[:, None].expand(-1, 3, -1, -1))
    assert np.abs(out[0].astype(int) - np.round((direct[0].numpy() + 1) * 127.5)).max() <= 1


def test_max_pairs_per_epoch_limits_each_epoch(tmp_path, slice_files):
    """gan.max_pairs_per_epoch: an epoch trains on that many pairs (a seeded draw, in global batches),
    not on all 10; the loss table has one row per iteration."""
    import pandas as pd

    pairs = SlicePairs(slice_files, "pre", ["post1"], 3)
    rows = {}
    for limit in (None, 3):
        cfg = gan_cfg(generator={"ngf": 4}, discriminator={"ndf": 4}, max_pairs_per_epoch=limit, batch_size=2)
        S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
        T.train_epoch(tmp_path / "e0.pt", tmp_path / f"{limit}.pt", tmp_path / f"{limit}.tsv", pairs, cfg, 1, "cpu", 1)
        rows[limit] = len(pd.read_csv(tmp_path / f"{limit}.tsv", sep="\t"))
        drawn = [i for batch in pairs.batch_indices(2, torch.Generator().manual_seed(1), 0.5, limit) for i, *_ in batch]
        assert len(drawn) == (limit or 10) and len(set(drawn)) == len(drawn), drawn
    assert rows == {None: 5, 3: 2}


def test_bf16_is_a_cuda_only_training_key(tmp_path, slice_files):
    """gan.precision: bf16 on a CPU trains in fp32 (and says so): bit-identical to fp32 there."""
    pairs = SlicePairs(slice_files, "pre", ["post1"], 3)
    for precision in ("fp32", "bf16"):
        cfg = gan_cfg(generator={"ngf": 4}, discriminator={"ndf": 4}, precision=precision)
        S.save_state(T.init_state(cfg), tmp_path / f"{precision}0.pt")
        T.train_epoch(tmp_path / f"{precision}0.pt", tmp_path / f"{precision}1.pt", tmp_path / f"{precision}.tsv",
                      pairs, cfg, 1, "cpu", 1)  # fmt: skip
    a, b = S.load_state(tmp_path / "fp321.pt"), S.load_state(tmp_path / "bf161.pt")
    assert b["config"]["precision"] == "bf16" and b["meta"]["precision"] == "fp32"
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])


def test_an_epoch_without_pairs_is_refused(tmp_path):
    """No training pairs (every case annotated, so none trains the GAN) is an error, not NaN losses."""
    cfg = gan_cfg(generator={"ngf": 4}, discriminator={"ndf": 4})
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    with pytest.raises(ConfigError, match="no training slice pairs"):
        T.train_epoch(tmp_path / "e0.pt", tmp_path / "e1.pt", tmp_path / "l.tsv", SlicePairs({}, "pre", ["post1"], 3), cfg, 1)
    assert not (tmp_path / "e1.pt").exists()


def test_changed_model_shape_is_refused(tmp_path, slice_files):
    cfg = gan_cfg(generator={"ngf": 4}, discriminator={"ndf": 4})
    S.save_state(T.init_state(cfg), tmp_path / "e0.pt")
    pairs = SlicePairs(slice_files, "pre", ["post1"], 3)
    with pytest.raises(ConfigError, match="start a new run name"):
        T.train_epoch(tmp_path / "e0.pt", tmp_path / "e1.pt", tmp_path / "l.tsv", pairs, gan_cfg(generator={"ngf": 8}), 1)


def test_manifest_round_trip(tmp_path, slice_files):
    assert write_manifest(slice_files, tmp_path / "pairs.tsv") == 6
    assert read_manifest(tmp_path / "pairs.tsv") == slice_files
    table = (tmp_path / "pairs.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["case_id", "seq", "path", "n_slices"] and table[1].endswith("\t5")


def test_synthesis_and_evaluation_do_not_import_the_training_loop():
    """Generators are loaded through gan.state: synthesis, evaluation and the reports never load
    the training loop (nor its optimisers and losses) for a helper."""
    import subprocess
    import sys

    code = ("import sys, dcesynth.evaluation, dcesynth.synthesis, dcesynth.training.report; "
            "sys.exit('dcesynth.training.epoch' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_generator_file_loads_whole_and_in_float32(tmp_path):
    """load_generator builds no random network to overwrite: every tensor comes from the file (one
    missing is refused by name), and a half-precision file is computed in float32 as before."""
    torch.manual_seed(0)
    opts = {"input_nc": 1, "output_nc": 1, "ngf": 4, "n_downsample_global": 1, "n_blocks_global": 1}
    G = build_generator(**opts).eval()
    half = {k: v.half() if v.is_floating_point() else v for k, v in G.state_dict().items()}
    torch.save({"options": opts, "state_dict": half}, tmp_path / "half.pt")
    loaded = load_generator(tmp_path / "half.pt")
    assert all(p.dtype == torch.float32 and not p.is_meta for p in loaded.parameters())
    G.load_state_dict(half)  # the old way: copied into the float32 parameters
    x = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), G(x))
    torch.save({"options": opts, "state_dict": {k: v for k, v in half.items() if not k.endswith("1.weight")}},
               tmp_path / "part.pt")  # fmt: skip
    with pytest.raises(InputError, match="part.pt.*weights do not fit the generator options"):
        load_generator(tmp_path / "part.pt")
