"""dcesynth: pre- to post-contrast breast MRI synthesis pipeline (Osuala et al., SPIE MI 2024).

All logic of the Snakemake workflow lives in this package; the rule scripts under
``workflow/scripts`` only adapt the ``snakemake`` object to these functions.
"""

__version__ = "0.1.0"
