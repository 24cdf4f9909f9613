# Pre- to post-contrast breast MRI synthesis (Osuala et al., SPIE Medical Imaging 2024).
# The workflow is workflow/Snakefile (where the Snakemake workflow catalog and module deployments
# look for it); this file lets `snakemake` run from the repository's root and keeps the shipped
# profiles (profiles/default, profiles/slurm) beside the Snakefile Snakemake is given.


include: "workflow/Snakefile"


# An included file's default target does not carry over to the file including it (Snakemake keeps
# the includer's): the workflow's `all` is this file's too.
workflow.default_target = "all"
