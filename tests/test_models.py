"""The synthesis model families beside pix2pixHD (dcesynth.models): shapes, one training step
lowers the loss on a fixed batch, export/load round trip. Small seeded networks on 32 px slices."""

from __future__ import annotations

import pytest
import torch

from dcesynth import models as M
from dcesynth.errors import ConfigError, InputError

SMALL = {"unet": {"ngf": 8, "depth": 2}, "nca": {"channels": 12, "hidden": 32, "steps": 8},
         "flow": {"ngf": 8, "depth": 2, "sample_steps": 2}}  # fmt: skip


def _batch(n=4, size=32):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return x, (x * 0.8 + 0.3).clamp(-1, 1)  # a brighter "post-contrast" image


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
    M.save_model(tmp_path / "m.pt", family, SMALL[family], model, 3, 3, meta={"epoch": 2})
    loaded, record = M.load_model(tmp_path / "m.pt")
    assert record["family"] == family and record["meta"] == {"epoch": 2}
    x, _ = _batch(2)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a readable model file"):
        M.load_model(tmp_path / "cut.pt")


@pytest.mark.parametrize("family", list(SMALL))
def test_synthesis_translates_with_every_family(family):
    """dcesynth.gan.translate (the synthesis path) takes a family's model as it takes a generator."""
    import numpy as np

    from dcesynth.gan import translate

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
    with pytest.raises(ConfigError, match="not one of unet, nca, flow"):
        M.build_model("diffusion")
    with pytest.raises(ConfigError, match="model family unet"):
        M.build_model("unet", {"widths": 3})
    with pytest.raises(ValueError, match="not a multiple of 4"):
        M.build_model("unet", {"ngf": 4, "depth": 2})(torch.zeros(1, 3, 30, 30))
