"""Training states and generators on disk: save, load, export, and which training made a generator.

A pix2pixHD training state (``dcesynth-gan-state-1``) holds both networks, both optimisers and the
options, a further family's (``dcesynth-model-state-2``) its model, optimiser and family; an export
is a pix2pixHD generator alone with NVIDIA's key layout (``dcesynth-generator-1``) or a further
family's model file (:mod:`dcesynth.models.files`). NVIDIA's own
``*_net_G.pth`` (a bare state dict, maybe DataParallel-wrapped) loads too. Synthesis, evaluation
and the tables use this module, never the training loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io import atomic_path
from ..models import FORMAT as MODEL_FORMAT, LEGACY_FORMATS, STATE_FORMAT as MODEL_STATE_FORMAT
from ..models import GAN_FAMILY, build_model, current_options
from ..models.pix2pixhd.networks import build_generator, infer_generator_options
from ..weights import provenance
from . import channels_for

MODEL_FILE_FORMATS = (MODEL_FORMAT, *(k for k, v in LEGACY_FORMATS.items() if v == MODEL_FORMAT))
MODEL_STATE_FORMATS = (MODEL_STATE_FORMAT, *(k for k, v in LEGACY_FORMATS.items() if v == MODEL_STATE_FORMAT))


# --------------------------------------------------------------------------------------------
# States
# --------------------------------------------------------------------------------------------


def save_state(state: dict[str, Any], path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a training state or generator export; refuse corrupt files with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise InputError(None, path, "state file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad pickle, wrong format
        raise InputError(
            None, path, f"corrupt or truncated state file ({type(exc).__name__})",
            "Delete it and rerun with --rerun-incomplete to recompute that epoch",
        ) from None  # fmt: skip
    if not isinstance(state, dict):
        raise InputError(None, path, "not a dcesynth state (expected a dict)")
    return state


# --------------------------------------------------------------------------------------------
# Generators: export and load (ours and NVIDIA's *_net_G.pth)
# --------------------------------------------------------------------------------------------


def export_generator(state_path: str | Path, out_path: str | Path) -> None:
    """The generator of a training state alone: options, NVIDIA-keyed state dict, provenance (a
    further family's state: its model file, :func:`export_model`)."""
    state = load_state(state_path)
    if state.get("format") in MODEL_STATE_FORMATS:
        export_model(state, out_path)
        return
    save_state(
        {
            "format": "dcesynth-generator-1",
            "epoch": int(state["epoch"]),
            "options": state["options"],
            "state_dict": state["generator"],
            "meta": state.get("meta", {}),
        },
        out_path,
    )


def export_model(state: dict[str, Any], out_path: str | Path) -> None:
    """The model of a further family's training state alone (:func:`dcesynth.models.files.save_model`),
    with its epoch and target; :func:`dcesynth.models.files.load_model` returns a post-contrast model."""
    from ..models.files import save_model

    cfg = state["config"]
    options = current_options(cfg["family"], cfg.get("options") or {}, state["format"])
    input_nc, output_nc = channels_for(cfg)
    model = build_model(cfg["family"], options, input_nc, output_nc)
    model.load_state_dict(state["model"])
    save_model(out_path, cfg["family"], options, model, input_nc, output_nc,
               meta={"epoch": int(state["epoch"]), "target": cfg.get("target", "post"), **state.get("meta", {})})  # fmt: skip


def read_generator_state(path: str | Path, options: dict[str, Any] | None = None):
    """(options, state dict) from our export, our training state, or a plain NVIDIA ``*_net_G.pth``."""
    return _generator_state(load_state(path), path, options)


def _generator_state(obj: dict[str, Any], path: str | Path, options: dict[str, Any] | None):
    if "state_dict" in obj and "options" in obj:  # our export
        return obj["options"], obj["state_dict"]
    if "generator" in obj and "options" in obj:  # our training state
        return obj["options"], obj["generator"]
    sd = {k.removeprefix("module."): v for k, v in obj.items()}  # NVIDIA: a bare state dict (maybe DataParallel)
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise InputError(None, path, "not a generator state dict")
    return options or infer_generator_options(sd), sd


EXTERNAL_FORMAT = "dcesynth-external-1"


def write_external_record(record: dict[str, Any], path: str | Path) -> None:
    """An external model's record (models.<run>.images): what the rules take as its generator."""
    import json

    from ..io import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"format": EXTERNAL_FORMAT, **record}, indent=2))


def _external_record(path: str | Path) -> dict[str, Any] | None:
    import json

    if not str(path).endswith(".json"):
        return None
    obj = json.loads(Path(path).read_text())
    if obj.get("format") != EXTERNAL_FORMAT:
        raise InputError(None, Path(path), f"not an external model's record ({EXTERNAL_FORMAT})")
    return obj


def generator_provenance(path: str | Path) -> dict[str, Any]:
    """Which training made a generator: its epoch, the VGG19 weights of its perceptual loss and the
    precision(s) its epochs trained in (from our export or state; a bare NVIDIA state dict records none)."""
    external = _external_record(path)
    if external is not None:
        images = ", ".join(external["images"].values())
        return {"generator_epoch": f"external ({images})", "generator_vgg": "unknown (external model)",
                "generator_precision": "unknown (external model)"}  # fmt: skip
    obj = load_state(path)
    if obj.get("format") in MODEL_FILE_FORMATS:  # a further family's model: its epoch and perceptual term
        meta = obj.get("meta", {})
        return {"generator_epoch": int(meta["epoch"]), "generator_vgg": _vgg_text(meta.get("perceptual") or {}),
                "generator_precision": "fp32"}  # fmt: skip
    if "options" not in obj:
        return {"generator_epoch": "unknown (external generator)", "generator_vgg": "unknown", "generator_precision": "unknown"}
    meta = obj.get("meta", {})
    vgg_text = _vgg_text(meta.get("vgg") or {})
    if int(obj["epoch"]) == 0 and meta.get("init_generator"):  # a published generator, not trained here
        name = Path(meta["init_generator"]).name
        return {"generator_epoch": f"0 (gan.init_generator {name}; not trained here)", "generator_vgg": "unknown", "generator_precision": "unknown"}
    # states from before gan.precision existed trained in bf16 on CUDA and in fp32 on the CPU
    precisions = meta.get("precisions") or ["bf16" if meta.get("device") == "cuda" else "fp32"]
    return {"generator_epoch": int(obj["epoch"]), "generator_vgg": vgg_text, "generator_precision": "+".join(precisions)}


def generator_family(path: str | Path) -> str:
    """The model family of a generator file (a further family's model file names its own)."""
    external = _external_record(path)
    if external is not None:
        return external["family"]
    obj = load_state(path)
    return obj["family"] if obj.get("format") in MODEL_FILE_FORMATS else GAN_FAMILY


def _vgg_text(vgg: dict[str, Any]) -> str:
    """The VGG19 weights of a perceptual loss, as the metric tables name weights."""
    if vgg.get("mode") == "pretrained":
        return provenance(vgg["file"], str(vgg["sha256"]))
    if vgg.get("mode") == "random":
        return "UNTRAINED (seeded random VGG19)"
    return vgg.get("mode", "unknown")


def load_generator(path: str | Path, options: dict[str, Any] | None = None, device: str | torch.device = "cpu"):
    """A ready-to-use generator (eval mode) from any of the formats ``read_generator_state`` takes,
    or a further family's model file (a post-contrast model either way)."""
    obj = load_state(path)
    if obj.get("format") in MODEL_FILE_FORMATS:
        from ..models.files import load_model

        return load_model(path, device)[0]
    opts, sd = _generator_state(obj, path, options)
    with torch.device("meta"):  # no random initialisation to overwrite (1.6 s for the paper's generator)
        G = build_generator(**opts)
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}  # as copying into fp32 did
    try:
        G.load_state_dict(sd, assign=True)
    except RuntimeError as exc:
        raise InputError(None, path, f"weights do not fit the generator options {opts}: {str(exc).splitlines()[0]}") from None
    if any(t.is_meta for t in (*G.parameters(), *G.buffers())):  # a tensor the file does not hold
        raise InputError(None, path, f"the file does not hold every tensor of the generator options {opts}")
    return G.to(device).eval()
