"""dcesynth: pre- to post-contrast breast MRI synthesis pipeline (Osuala et al., SPIE MI 2024).

All logic of the Snakemake workflow lives in this package; the rule scripts under
``workflow/scripts`` only adapt the ``snakemake`` object to these functions.
"""

__version__ = "0.2.0"


def announce_location() -> str:
    """Name this package's folder in the environment (``DCESYNTH_PACKAGE``), for the jobs: the
    conda envs' import hook (``envs/*.post-deploy.sh``) then finds this same package."""
    import os
    from pathlib import Path

    os.environ["DCESYNTH_PACKAGE"] = folder = str(Path(__file__).resolve().parent)
    return folder


def load_object(spec: str):
    """``"module:attribute"`` imported: how the registries (model families, cohort sources) name code
    that is imported only when used."""
    import importlib

    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)
