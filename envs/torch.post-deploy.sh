#!/usr/bin/env bash
# Run by Snakemake once it has created this env (--use-conda), inside the env: makes the workflow's
# own package importable from the env itself, as a link in its site-packages to the package folder
# the Snakefile imported (DCESYNTH_PACKAGE; only that folder, not the host's site-packages). The
# rule scripts then import dcesynth from their env, not through the host's sys.path. After moving
# the checkout, delete .snakemake/conda.
set -euo pipefail
package=${DCESYNTH_PACKAGE:?"is set by the Snakefile (run this env through snakemake --use-conda)"}
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn "$package" "$site/dcesynth"
python -c 'import dcesynth, sys; sys.stdout.write(f"dcesynth {dcesynth.__version__} from {dcesynth.__path__[0]}\n")'
