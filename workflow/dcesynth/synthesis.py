"""Synthetic post-contrast volumes on exactly the grid of their source, and subtraction volumes.

Every axial slice of the (N4-corrected) pre-contrast volume is translated by the generator in
batches; the inverse of the slice transform (rotation, padding, resize) puts the synthetic slices
back on the source grid, and the source geometry (size, spacing, origin, direction) is copied
bit for bit. The synthetic slice stack is kept too (``.npy``, the layout of ``extract_slices``),
so metrics compare slices without resampling twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from .gan.infer import translate
from .gan.train import load_generator, resolve_device
from .io import write_image, write_npy
from .slices import restore_volume

log = logging.getLogger("dcesynth")


def read_transform(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def synthetic_stacks(generator: torch.nn.Module, pre: np.ndarray, n_targets: int, batch_size: int) -> list[np.ndarray]:
    """Synthetic uint8 slice stacks ``(n, H, W)``, one per target phase.

    A single-target model with several output channels (grey stacked to 3) gives the mean of
    its channels; a multi-phase model gives one channel per phase.
    """
    out = translate(generator, pre, batch_size=batch_size, progress=True)
    if n_targets == 1:
        return [np.rint(out.astype(np.float32).mean(axis=1)).astype(np.uint8)]
    if out.shape[1] != n_targets:
        raise ValueError(f"the generator has {out.shape[1]} output channels for {n_targets} targets")
    return [out[:, k] for k in range(n_targets)]


def synthesize_case(
    generator_path: str | Path,
    pre_slices: str | Path,
    pre_transform: str | Path,
    reference: str | Path,
    outputs: dict[str, dict[str, str]],
    target_transforms: dict[str, str] | None = None,
    intensity: str = "uint8",
    batch_size: int = 16,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """Write ``outputs[target] = {'volume': .nii.gz, 'slices': .npy}`` for every target.

    ``intensity='source'`` maps each synthetic volume to the intensity range its real
    counterpart had at extraction (``target_transforms[target]``); ``'uint8'`` keeps 0–255.
    """
    torch.set_num_threads(max(1, int(threads)))
    G = load_generator(generator_path, device=resolve_device(device))
    transform = read_transform(pre_transform)
    ref = sitk.ReadImage(str(reference))
    pre = np.load(pre_slices)
    stacks = synthetic_stacks(G, pre, len(outputs), batch_size)
    for (target, paths), stack in zip(outputs.items(), stacks):
        t = dict(transform)
        if intensity == "source":
            real_t = read_transform(target_transforms[target])
            t["intensity_min"], t["intensity_max"] = real_t["intensity_min"], real_t["intensity_max"]
        volume = restore_volume(stack, t, ref, intensity=intensity)
        write_npy(stack, paths["slices"])
        write_image(volume, paths["volume"])
        log.info("%s: %d synthetic slices → %s %s", target, len(stack), list(volume.GetSize()), paths["volume"])


def subtraction(post: sitk.Image, pre: sitk.Image) -> sitk.Image:
    """post − pre with negatives clipped at 0, on the grid of ``pre``."""
    arr = sitk.GetArrayFromImage(post).astype(np.float32) - sitk.GetArrayFromImage(pre).astype(np.float32)
    out = sitk.GetImageFromArray(np.clip(arr, 0, None))
    out.CopyInformation(pre)
    return out


def stack_volume(stack_path: str | Path, transform_path: str | Path, reference: sitk.Image) -> sitk.Image:
    """A slice stack back on its source grid, on the 0–255 scale the model works in."""
    return restore_volume(np.load(stack_path), read_transform(transform_path), reference, intensity="uint8")


def subtraction_volumes(
    pre_slices: str | Path,
    real_slices: str | Path,
    synthetic_slices: str | Path,
    pre_transform: str | Path,
    reference: str | Path,
    out_real: str | Path,
    out_synthetic: str | Path,
) -> None:
    """Real and synthetic subtraction volumes (post − pre, ≥ 0) on the 0–255 model scale.

    Pre and real post are restored from their slice stacks like the synthetic post, so the
    three share one scale and one interpolation path, as the paper's PNG-based subtractions.
    """
    ref = sitk.ReadImage(str(reference))
    pre = stack_volume(pre_slices, pre_transform, ref)
    write_image(subtraction(stack_volume(real_slices, pre_transform, ref), pre), out_real)
    write_image(subtraction(stack_volume(synthetic_slices, pre_transform, ref), pre), out_synthetic)


def figure_volumes(inputs, cases: list[str], source: str, target: str) -> dict[str, dict[str, sitk.Image | str]]:
    """Per case, the images of the synthesis figures on one 0–255 scale (see SYNTHESIS_COLUMNS).

    ``inputs`` holds the rule's named input lists (slices, transforms, references, synthetic,
    subtractions, masks); files are matched to cases by their folder name.
    """

    def pick(paths, case, name=None):
        for p in map(Path, paths):
            if case in p.parts and (name is None or p.name == name):
                return p
        return None

    out = {}
    for case in cases:
        ref = sitk.ReadImage(str(pick(inputs.references, case)))
        transform = pick(inputs.transforms, case)
        mask = pick(inputs.masks, case)
        out[case] = {
            "pre": stack_volume(pick(inputs.slices, case, f"{source}.npy"), transform, ref),
            "real post": stack_volume(pick(inputs.slices, case, f"{target}.npy"), transform, ref),
            "synthetic post": stack_volume(pick(inputs.synthetic, case), transform, ref),
            "real subtraction": str(pick(inputs.subtractions, case, f"real_{target}.nii.gz")),
            "synthetic subtraction": str(pick(inputs.subtractions, case, f"synthetic_{target}.nii.gz")),
            "mask": str(mask) if mask else "",
        }
    return out
