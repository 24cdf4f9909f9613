"""docs/extending.md, done: a model family added to the registry in a few lines trains, exports
and synthesises through the plan and the same code every family uses (a toy family: one seeded
1x1 convolution on 16 px slices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import REPO, default_config, deep_update
from dcesynth import models
from dcesynth.errors import ConfigError
from dcesynth.plan import Plan


def plan_of(cfg):
    return Plan.from_config(cfg, REPO / "resources" / "duke_split.tsv")


class Toy(nn.Module):
    """The smallest family: pre → post by one 1x1 convolution, trained with L1."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, gain: float = 1.0):
        super().__init__()
        self.input_nc = input_nc
        self.conv = nn.Conv2d(input_nc, output_nc, 1)
        self.gain = gain

    def forward(self, x):
        return torch.tanh(self.gain * self.conv(x))

    def training_loss(self, x, y, perceptual=None, lambda_perceptual=0.0, generator=None):
        loss = nn.functional.l1_loss(self(x), y)
        return loss, {"L1": loss}


@pytest.fixture
def toy_family():
    family = models.register_family(models.Family("toy", f"{__name__}:Toy", "dcesynth.training.regression:RegressionTrainer",
                                           targets=("post",)))  # fmt: skip
    yield family
    models.FAMILIES.pop("toy")


def test_a_registered_family_trains_and_synthesises_through_a_plan(tmp_path, toy_family):
    from dcesynth.synthesis import synthesize_case
    from dcesynth.training.checkpoints import export_generator, generator_family, load_generator, save_state
    from dcesynth.training.data import training_pairs
    from dcesynth.training.epoch import init_state, train_epoch

    cfg = deep_update(default_config(), {"models": {"mine": {"family": "toy", "options": {"gain": 2.0}, "niter": 1,
                                                             "niter_decay": 1, "eval_every": 1}}})  # fmt: skip
    plan = plan_of(cfg)
    run = plan.run_of("mine")
    assert (run.family, run.n_epochs, run.eval_epochs, run.label) == ("toy", 2, (1, 2), "best")
    assert "results/tables/mine/table1.tsv" in plan.targets("all")
    training = {**plan.training("mine"), "channels": 1}
    # two cases of random 16 px slices, a brighter post-contrast
    rng = np.random.default_rng(0)
    files = {}
    for case in ("a", "b"):
        pre = rng.integers(0, 200, (4, 16, 16), dtype=np.uint8)
        files[case] = {}
        for seq, arr in (("pre", pre), *((t, np.clip(pre + 40, 0, 255).astype(np.uint8)) for t in training["targets"])):
            np.save(tmp_path / f"{case}_{seq}.npy", arr)
            files[case][seq] = str(tmp_path / f"{case}_{seq}.npy")
    pairs = training_pairs(files, training)
    save_state(init_state(training), tmp_path / "e0.pt")
    for epoch in (1, 2):
        train_epoch(tmp_path / f"e{epoch - 1}.pt", tmp_path / f"e{epoch}.pt", tmp_path / f"l{epoch}.tsv", pairs,
                    training, epoch, device="cpu")  # fmt: skip
    losses = [float(np.loadtxt(tmp_path / f"l{e}.tsv", skiprows=1, usecols=2).mean()) for e in (1, 2)]
    assert losses[1] < losses[0]
    export_generator(tmp_path / "e2.pt", tmp_path / "g.pt")
    model = load_generator(tmp_path / "g.pt")
    assert isinstance(model, Toy) and model.gain == 2.0 and generator_family(tmp_path / "g.pt") == "toy"
    # synthesis takes it as it takes pix2pixHD: a volume on the pre-contrast grid
    import json

    import SimpleITK as sitk

    from dcesynth.slices import extract_slices, plan_transform

    pre = sitk.GetImageFromArray(rng.normal(100, 20, (5, 12, 14)).astype(np.float32))
    transform = plan_transform(pre, size=16)
    sitk.WriteImage(pre, str(tmp_path / "pre.nii.gz"))
    np.save(tmp_path / "pre.npy", extract_slices(pre, transform))
    (tmp_path / "t.json").write_text(json.dumps(transform))
    out = {"post1": {"volume": str(tmp_path / "syn.nii.gz"), "slices": str(tmp_path / "syn.npy")}}
    synthesize_case(tmp_path / "g.pt", tmp_path / "pre.npy", tmp_path / "t.json", tmp_path / "pre.nii.gz", out, device="cpu")
    synthetic = sitk.ReadImage(out["post1"]["volume"])
    assert synthetic.GetSize() == pre.GetSize() and np.load(out["post1"]["slices"]).std() > 0


def test_a_family_the_registry_does_not_know_is_refused():
    with pytest.raises(ConfigError, match="models.mine.family: 'toy' is not one of unet, nca, flow"):
        plan_of(deep_update(default_config(), {"models": {"mine": {"family": "toy"}}}))


def test_a_registered_cohort_source_plans_its_cases(tmp_path):
    """A source is a function giving the case table and one registry line: here a folder of
    ``{case}_{seq}.nii.gz`` files, ingested file by file as the nifti source's are."""
    from dcesynth import sources

    (tmp_path / "vols").mkdir()
    for case in ("A1", "A2", "B1", "B2", "C1", "C2"):
        for seq in ("pre", "post1"):
            (tmp_path / "vols" / f"{case}_{seq}.nii.gz").write_bytes(b"")
    sources.register_source(sources.Source("folder", f"{__name__}:folder_cases", files=True))
    try:
        cfg = deep_update(default_config(), {"data": {"source": "folder", "root": str(tmp_path / "vols"), "post_phases": 1,
                                                      "mask_pattern": None},
                                             "models": None, "segmentation": {"enabled": False},
                                             "gan": {"targets": ["post1"]}})  # fmt: skip
        plan = plan_of(cfg)
        assert plan.case_ids == ["A1", "A2", "B1", "B2", "C1", "C2"] and not plan.source.generated
        assert plan.ingest_inputs("B2") == {"pre": str(tmp_path / "vols" / "B2_pre.nii.gz"),
                                            "post1": str(tmp_path / "vols" / "B2_post1.nii.gz")}  # fmt: skip
    finally:
        sources.SOURCES.pop("folder")
    with pytest.raises(ConfigError, match="data.source: 'folder' is not one of phantom, dicom, nifti, mama_mia"):
        plan_of(cfg)


def folder_cases(config):
    import pandas as pd

    root = Path(config["data"]["root"])
    ids = sorted({f.name.split("_")[0] for f in root.glob("*_pre.nii.gz")})
    return pd.DataFrame({"case_id": ids, "case_dir": "", "mask": "", "multifocal": False,
                         **{seq: [str(root / f"{c}_{seq}.nii.gz") for c in ids] for seq in ("pre", "post1")}})


def test_a_metric_added_to_the_pixel_metrics_is_computed_per_pair_and_can_choose_the_epoch(monkeypatch):
    """A pixel metric is one function of two (N, 1, H, W) batches on the 0-255 scale, returning N
    values: in PIXEL_METRICS (and HIGHER_IS_BETTER if so) it is scored per pair and SAMe can use it."""
    import pandas as pd

    from dcesynth import metrics
    from dcesynth.evaluation.same import same

    def max_error(a, b):
        return (a - b).abs().flatten(1).max(dim=1).values

    monkeypatch.setitem(metrics.PIXEL_METRICS, "max_error", max_error)
    real = np.zeros((3, 8, 8), np.uint8)
    fake = real.copy()
    fake[1, 2, 2] = 255  # one pair with one wrong pixel
    out = metrics.pixel_metrics(real, fake, normalize=False, names=("mse", "max_error"))
    assert out["max_error"].tolist() == [0.0, 255.0, 0.0] and out["mse"][1] == pytest.approx(255**2 / 64)
    epochs = pd.DataFrame({"max_error": [10.0, 2.0, 5.0]}, index=[1, 2, 3])
    assert same(epochs, ["max_error"], set()).idxmin() == 2
