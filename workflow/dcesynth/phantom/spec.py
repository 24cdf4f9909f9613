"""What shapes each phantom case, drawn from the config alone (no image)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Bumped whenever the generated images change, so that make_phantom reruns (it is a param).
VERSION = 9

ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}

# Enhancement of the tumour relative to its peak, per post-contrast phase (phases 1..4).
KINETICS = {
    "washout": (1.0, 0.82, 0.70, 0.62),
    "plateau": (0.92, 1.0, 1.0, 0.98),
    "persistent": (0.65, 0.82, 0.94, 1.0),
}


@dataclass(frozen=True)
class CaseSpec:
    """Everything that shapes one phantom case; derived only from the config and the index."""

    case_id: str
    index: int
    rows: int
    cols: int
    slices: int
    pixel_spacing: float
    slice_thickness: float
    post_phases: int
    has_mask: bool
    multifocal: bool
    enhancement: str  # "whole" | "rim"
    kinetics: str  # key of KINETICS
    naming: str  # "dyn" | "vibrant": Duke-style series descriptions
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _every(index: int, fraction: float, offset: float = 0.0) -> bool:
    """Deterministic 'fraction of cases' that is stable when cases are appended."""
    return np.floor((index + 1) * fraction + offset) > np.floor(index * fraction + offset)


def plan_cohort(cfg: dict[str, Any]) -> list[CaseSpec]:
    """The cohort a phantom config describes, without generating any image."""
    n = int(cfg["n_cases"])
    seed = int(cfg["seed"])
    specs = []
    n_masked = 0
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0])
        has_mask = bool(_every(i, cfg["mask_fraction"], 0.5))
        # Multifocal cases are drawn among the annotated ones (as in Duke, where 33 of the
        # 254 annotated cases are multifocal); the first annotated case is never multifocal.
        multifocal = bool(has_mask and n_masked > 0 and _every(n_masked, cfg["multifocal_fraction"]))
        n_masked += has_mask
        specs.append(
            CaseSpec(
                case_id=f"{cfg['case_prefix']}{i + 1:03d}",
                index=i,
                rows=int(rng.integers(cfg["rows"][0], cfg["rows"][1] + 1)),
                cols=int(rng.integers(cfg["cols"][0], cfg["cols"][1] + 1)),
                slices=int(rng.integers(cfg["slices"][0], cfg["slices"][1] + 1)),
                pixel_spacing=round(float(rng.uniform(*cfg["pixel_spacing_mm"])), 3),
                slice_thickness=round(float(rng.uniform(*cfg["slice_thickness_mm"])), 3),
                post_phases=int(cfg["post_phases"]),
                has_mask=has_mask,
                multifocal=multifocal,
                enhancement=str(rng.choice(["whole", "rim"], p=[0.6, 0.4])),
                kinetics=str(rng.choice(list(KINETICS), p=[0.5, 0.3, 0.2])),
                naming="vibrant" if rng.random() < 0.25 else "dyn",
                seed=seed,
            )
        )
    return specs
