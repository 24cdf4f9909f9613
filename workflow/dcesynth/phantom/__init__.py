"""A deterministic phantom DCE-MRI breast cohort written as real DICOM series.

The real cohort (Duke-Breast-Cancer-MRI) cannot be downloaded here, so the default config
generates cases with the same shape of problem: bilateral breasts over a chest wall, dark
(fat-saturated) fat, textured fibroglandular tissue (FGT), vessels, one primary tumour (sometimes
satellites: multifocal) that is faintly visible before contrast and enhances after it (whole or
rim, with washout, plateau or persistent kinetics), mild parenchymal enhancement, a smooth
multiplicative bias field and Rician noise. Sizes vary per case.

Each case is written in a TCIA-like tree
``<root>/<case>/<study>/<N.000000-description-NNNNN>/1-NNN.dcm`` with Duke-style series
descriptions, plus non-DCE series (a localizer and a T2) that series identification must skip,
and planted fake patient identifiers so privacy can be tested. The primary tumour mask is
written as NIfTI on the grid of the DCE series.

Every case draws from its own seeded generators (``seed``, case index), so adding cases never
changes existing ones; within a case each part (chest wall, breasts, fibroglandular tissue, vessels,
tumour, satellites, enhancement, coil, noise) has a stream of its own (:mod:`.anatomy`), so changing
one part of a case changes nothing else in it.
"""

from .anatomy import draw_case
from .dicom_writer import write_case
from .identifiers import planted_identifiers, planted_value, profile_tags
from .spec import KINETICS, VERSION, CaseSpec, plan_cohort

__all__ = [
    "KINETICS",
    "VERSION",
    "CaseSpec",
    "draw_case",
    "plan_cohort",
    "planted_identifiers",
    "planted_value",
    "profile_tags",
    "write_case",
]
