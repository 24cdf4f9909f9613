"""Synthesis model families beside pix2pixHD (:mod:`dcesynth.gan`), with one small interface.

Each family's model is an ``nn.Module`` whose ``forward(x)`` translates a batch of pre-contrast
slices (N, C_in, H, W) in [-1, 1] to the target (N, C_out, H, W) in [-1, 1], deterministically in
eval mode, so :func:`dcesynth.gan.translate` and everything after synthesis take it as they take a
pix2pixHD generator; and whose ``training_loss(x, y, perceptual=None, lambda_perceptual=0,
generator=None)`` returns the loss of one batch and its named terms.

- ``unet``: :class:`.unet.Regressor`, L1 (+ optional VGG19 perceptual term);
- ``nca``: :class:`.nca.NCA`, a TeNCA-style neural cellular automaton (~15 k parameters);
- ``flow``: :class:`.flow.RectifiedFlow`, conditional flow matching with 1-8 Euler steps.

A model file (:func:`save_model`) holds the family, its options and the state dict, read back
with ``weights_only=True`` (:func:`load_model`); a model trained on the subtraction (``meta``
``target: subtraction``) loads as a post-contrast model. :mod:`.train` trains one epoch from a
saved state to a saved state, as :mod:`dcesynth.gan.train` does for pix2pixHD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, InputError
from ..io import atomic_path
from .flow import RectifiedFlow
from .nca import NCA
from .unet import Regressor

FAMILIES: dict[str, type[torch.nn.Module]] = {"unet": Regressor, "nca": NCA, "flow": RectifiedFlow}
FORMAT = "dcesynth-model-1"  # a model file (save_model)
STATE_FORMAT = "dcesynth-model-state-1"  # a training state (dcesynth.models.train)


def build_model(family: str, options: dict[str, Any] | None = None, input_nc: int = 3, output_nc: int = 3) -> torch.nn.Module:
    """A seeded-by-the-caller model of ``family`` with ``options`` (the family's keyword arguments)."""
    if family not in FAMILIES:
        raise ConfigError(f"model family {family!r} is not one of {', '.join(FAMILIES)} (pix2pixHD is the gan block)")
    try:
        return FAMILIES[family](input_nc=input_nc, output_nc=output_nc, **(options or {}))
    except TypeError as e:
        raise ConfigError(f"model family {family}: {e}") from None


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(path: str | Path, family: str, options: dict[str, Any], model: torch.nn.Module, input_nc: int,
               output_nc: int, meta: dict[str, Any] | None = None) -> None:  # fmt: skip
    record = {"format": FORMAT, "family": family, "options": dict(options), "input_nc": input_nc,
              "output_nc": output_nc, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
              "meta": meta or {}}  # fmt: skip
    with atomic_path(path) as tmp:
        torch.save(record, tmp)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of a file written by :func:`save_model` (eval mode, on ``device``) and its record
    without the weights."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise InputError(None, path, f"not a readable model file ({type(e).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(None, path, f"not a {FORMAT} model file")
    model = build_model(record["family"], record["options"], record["input_nc"], record["output_nc"])
    model.load_state_dict(record["state_dict"])
    if record["meta"].get("target") == "subtraction":  # trained on post - pre: add the pre-contrast image back
        from .train import SubtractionModel

        model = SubtractionModel(model)
    return model.to(device).eval(), {k: v for k, v in record.items() if k != "state_dict"}
