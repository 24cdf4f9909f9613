"""Model files of the further families: the family, its options and the state dict, read back with
``weights_only=True``; a model trained on the subtraction (``meta`` ``target: subtraction``) loads
as a post-contrast model. First-version files (``dcesynth-model-1``) load with their defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io import atomic_path
from . import FORMAT, LEGACY_FORMATS, build_model, current_options
from .targets import SubtractionModel


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
    if not isinstance(record, dict) or record.get("format") not in (FORMAT, *LEGACY_FORMATS):
        raise InputError(None, path, f"not a {FORMAT} model file")
    record["options"] = current_options(record["family"], record["options"], record["format"])
    model = build_model(record["family"], record["options"], record["input_nc"], record["output_nc"])
    model.load_state_dict(record["state_dict"])
    if record["meta"].get("target") == "subtraction":  # trained on post - pre: add the pre-contrast image back
        model = SubtractionModel(model)
    return model.to(device).eval(), {k: v for k, v in record.items() if k != "state_dict"}
