"""Synthetic post-contrast volumes on exactly the grid of the pre-contrast volume they were
made from (the input grid), and subtraction volumes.

Every axial slice of the (N4-corrected) pre-contrast volume is translated by the generator in
batches; the inverse of the slice transform (rotation, padding, resize) puts the synthetic slices
back on the input grid, and its geometry (size, spacing, origin, direction) is copied
bit for bit. The synthetic slice stack is kept too (``.npy``, the layout of ``extract_slices``),
so metrics compare slices without resampling twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .io import write_image, write_npy
from .slices import restore_volume

log = logging.getLogger("dcesynth")


def read_transform(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def synthetic_stacks(
    generator: torch.nn.Module, pre: np.ndarray, n_targets: int, batch_size: int, progress: bool = False
) -> list[np.ndarray]:
    """Synthetic uint8 slice stacks ``(n, H, W)``, one per target phase.

    A single-target model with several output channels (grey stacked to 3) gives the mean of
    its channels; a multi-phase model gives one channel per phase.
    """
    from .models.infer import translate  # torch: only the jobs that run a generator import it

    out = translate(generator, pre, batch_size=batch_size, progress=progress)
    if n_targets == 1:
        return [np.rint(out.astype(np.float32).mean(axis=1)).astype(np.uint8)]
    if out.shape[1] != n_targets:
        raise ValueError(f"the generator has {out.shape[1]} output channels for {n_targets} targets")
    return [out[:, k] for k in range(n_targets)]


def stack_to_volume(
    stack: np.ndarray, transform: dict, reference: sitk.Image, intensity: str = "uint8", target_transform: dict | None = None
) -> sitk.Image:
    """The inverse path of synthesis: a slice stack on the input grid with the chosen intensity.

    With ``intensity='scanner'`` the 0–255 values map to the range ``target_transform`` (the
    real post-contrast volume's extraction) recorded, so that a real post-contrast stack comes
    back as the real volume up to quantisation.
    """
    t = dict(transform)
    if intensity == "scanner":
        t["intensity_min"], t["intensity_max"] = target_transform["intensity_min"], target_transform["intensity_max"]
    return restore_volume(stack, t, reference, intensity=intensity)


def check_geometry(image: sitk.Image, reference: sitk.Image, name: str, reference_name: str) -> None:
    """Refuse ``image`` unless it lies on the grid of ``reference`` (size, spacing, origin,
    direction), naming both files and what differs."""
    checks = [("size", image.GetSize(), reference.GetSize(), 0),
              ("spacing", image.GetSpacing(), reference.GetSpacing(), 1e-3),
              ("origin", image.GetOrigin(), reference.GetOrigin(), 1e-2),
              ("direction", image.GetDirection(), reference.GetDirection(), 1e-4)]  # fmt: skip
    for what, got, want, tol in checks:
        if len(got) != len(want) or not np.allclose(got, want, rtol=0, atol=tol):
            raise ValueError(f"{name}: its {what} {tuple(np.round(got, 4))} differs from the case's pre-contrast image "
                             f"{reference_name} ({tuple(np.round(want, 4))}); an external model's volume must lie on the "
                             "pre-contrast image's grid")  # fmt: skip


def pre_statistics(pre: sitk.Image, name: str = "the pre-contrast volume") -> tuple[float, float]:
    """Mean and sd (population) of the pre-contrast volume: what MAMA-SYNTH z-scores a case's
    slices with (and an external model's ``zscore`` volumes are taken back to scanner units with)."""
    arr = sitk.GetArrayViewFromImage(pre).astype(np.float64)
    mean, sd = float(arr.mean()), float(arr.std())
    if not sd > 0:
        raise ValueError(f"{name} is constant; it cannot z-score the case")
    return mean, sd


def external_stacks(images: dict[str, str], reference: str | Path, target_transforms: dict[str, str],
                    intensity: str = "scanner") -> list[np.ndarray]:
    """An external model's synthetic volumes (by target) as slice stacks on the model scale: each
    checked against the pre-contrast grid (``reference``), then extracted exactly as its real
    target was, with the real target's intensity window. ``intensity``: the volumes are in the
    scanner's units (``scanner``), or z-scored with the case's pre-contrast statistics
    (``zscore``, MAMA-SYNTH's scale; taken back to scanner units with the pre-contrast volume's
    mean and sd, nothing of the real post-contrast image used)."""
    from .slices import extract_slices

    ref = sitk.ReadImage(str(reference))
    stacks = []
    for target, file in images.items():
        try:
            image = sitk.ReadImage(str(file), sitk.sitkFloat32)
        except RuntimeError as exc:
            raise ValueError(f"{file}: not a readable image ({str(exc).strip().splitlines()[-1]})") from None
        check_geometry(image, ref, str(file), str(reference))
        if intensity == "zscore":
            mean, sd = pre_statistics(ref, str(reference))
            image = image * sd + mean
        stacks.append(extract_slices(image, read_transform(target_transforms[target])))
    return stacks


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
    external: dict | None = None,
) -> None:
    """Write ``outputs[target] = {'volume': .nii.gz, 'slices': .npy}`` for every target, with the
    generator, or from an external model's volumes (``external``: ``images`` (target -> file) and
    ``intensity``, see :func:`external_stacks`).

    ``intensity='scanner'`` maps each synthetic volume to the intensity range its real
    counterpart had at extraction (``target_transforms[target]``); ``'uint8'`` keeps 0–255.
    """
    transform = read_transform(pre_transform)
    ref = sitk.ReadImage(str(reference))
    if external:
        stacks = external_stacks({t: external["images"][t] for t in outputs}, reference, target_transforms,
                                 external["intensity"])  # fmt: skip
    else:
        import torch

        from .devices import resolve_device
        from .training.checkpoints import load_generator

        torch.set_num_threads(max(1, int(threads)))
        G = load_generator(generator_path, device=resolve_device(device))
        stacks = synthetic_stacks(G, np.load(pre_slices), len(outputs), batch_size, progress=True)
    for (target, paths), stack in zip(outputs.items(), stacks):
        real_t = read_transform(target_transforms[target]) if intensity == "scanner" else None
        volume = stack_to_volume(stack, transform, ref, intensity, real_t)
        write_npy(stack, paths["slices"])
        write_image(volume, paths["volume"])
        log.info("%s: %d synthetic slices → %s %s", target, len(stack), list(volume.GetSize()), paths["volume"])


def import_external_case(inputs, targets: dict[str, dict[str, str]], external: dict, intensity: str) -> None:
    """An external model's volumes of one case written as synthesis writes a case (``inputs``: the
    pre-contrast ``slices``, ``transform`` and ``reference`` volume; ``targets``: each target's
    files, as ``synthesize_volume``'s params give them), with both subtractions."""
    outputs = {t: {"volume": f["volume"], "slices": f["slices"]} for t, f in targets.items()}
    synthesize_case(None, inputs.slices, inputs.transform, inputs.reference, outputs, intensity=intensity,
                    target_transforms={t: f["transform"] for t, f in targets.items()}, external=external)  # fmt: skip
    for f in targets.values():
        subtraction_volumes(inputs.reference, f["real"], f["slices"], inputs.transform, f["transform"],
                            f["real_subtraction"], f["synthetic_subtraction"])  # fmt: skip


def subtraction(post: sitk.Image, pre: sitk.Image) -> sitk.Image:
    """post − pre with negatives clipped at 0, on the grid of ``pre``."""
    arr = sitk.GetArrayFromImage(post).astype(np.float32) - sitk.GetArrayFromImage(pre).astype(np.float32)
    out = sitk.GetImageFromArray(np.clip(arr, 0, None))
    out.CopyInformation(pre)
    return out


def subtraction_volumes(
    pre: str | Path,
    real_post: str | Path,
    synthetic_slices: str | Path,
    pre_transform: str | Path,
    post_transform: str | Path,
    out_real: str | Path,
    out_synthetic: str | Path,
) -> None:
    """Real and synthetic subtraction volumes (post − pre, negatives clipped) in scanner units.

    The real subtraction is the difference of the two (N4-corrected) volumes, as a radiologist
    sees it; the synthetic post is first mapped to the real post's intensity range recorded at
    extraction. (The paper subtracted separately min-max-normalised PNGs, where a bright
    enhancing structure rescales the whole post-contrast image and hides enhancement.)
    """
    pre_img = sitk.ReadImage(str(pre))
    write_image(subtraction(sitk.ReadImage(str(real_post)), pre_img), out_real)
    synthetic = stack_to_volume(
        np.load(synthetic_slices), read_transform(pre_transform), pre_img, "scanner", read_transform(post_transform)
    )
    write_image(subtraction(synthetic, pre_img), out_synthetic)


# The files of one case in the synthesis figures (``figure_volumes``' ``files``).
FIGURE_FILES = ("pre", "post", "pre_transform", "post_transform", "synthetic", "real_subtraction",
                "synthetic_subtraction", "mask")  # fmt: skip


def figure_volumes(files: dict[str, dict[str, str]]) -> dict[str, dict[str, sitk.Image | str]]:
    """Per case, the images of the synthesis figures in scanner units (see SYNTHESIS_COLUMNS).

    ``files`` maps each case to its FIGURE_FILES (``mask`` empty when it has none). The synthetic
    post is mapped to the real post's intensity range, so one window serves pre, real and
    synthetic post.
    """
    out = {}
    for case, f in files.items():
        pre = sitk.ReadImage(f["pre"])
        pre_t, post_t = read_transform(f["pre_transform"]), read_transform(f["post_transform"])
        out[case] = {
            "pre": pre,
            "real post": f["post"],
            "synthetic post": stack_to_volume(np.load(f["synthetic"]), pre_t, pre, "scanner", post_t),
            "real subtraction": f["real_subtraction"],
            "synthetic subtraction": f["synthetic_subtraction"],
            "mask": f["mask"],
        }
    return out
