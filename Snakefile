# Pre- to post-contrast breast MRI synthesis (Osuala et al., SPIE Medical Imaging 2024).
# Thin root: configuration, validation and report live here; every stage is a rules file.
import sys
from pathlib import Path

from snakemake.utils import min_version

import dcesynth
from dcesynth import gc_tuning

min_version("9.0")
# The conda envs' post-deploy scripts (envs/*.post-deploy.sh) make this same package importable
# in each env, so that --use-conda jobs import it from their env, not from the host's sys.path.
dcesynth.announce_location()
# At Duke scale Snakemake's DAG is millions of Python objects: with the default thresholds the
# garbage collector re-scans them over and over (see dcesynth.gc_tuning).
gc_tuning.tune()


# The working directory's config/config.yaml, or the shipped demo config when it has none (so that
# `snakemake --directory DIR` works from anywhere); more files with --configfile.
_config_file = Path("config/config.yaml")
if not _config_file.is_file():
    _config_file = Path(workflow.basedir) / _config_file


configfile: _config_file


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/phantom.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/synthesis.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/segmentation.smk"


check_resource_keys()


localrules:
    all,
    preprocess,
    synthesis,
    segmentation,


onerror:
    # With --keep-going several cases can fail: list them once at the end of the run.
    from dcesynth.logs import failure_summary

    for path in [log] if isinstance(log, str) else log:  # Snakemake 9 passes a list
        print(
            failure_summary(Path(path).read_text(errors="replace")), file=sys.stderr
        )


rule all:
    default_target: True
    input:
        all_outputs(),


# Parts of the pipeline by name: `snakemake --cores N preprocess` (or synthesis, segmentation).
rule preprocess:
    input:
        preprocess_outputs(),


rule synthesis:
    input:
        synthesis_outputs(),


rule segmentation:
    input:
        segmentation_outputs(),
