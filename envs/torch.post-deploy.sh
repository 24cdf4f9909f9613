#!/usr/bin/env bash
# Each env's post-deploy script (envs/<env>.post-deploy.sh, a copy of this file, not a link: a module
# fetched from GitHub would receive a link as its target's name; tests/test_envs.py keeps them equal): run by Snakemake
# once it has created the env (--use-conda), inside the env. Makes the workflow's
# own package importable from the env itself: an import hook (a .pth line in the env's
# site-packages) finds dcesynth in the folder DCESYNTH_PACKAGE names, which the Snakefile sets for
# every job to the package it imported. So a job imports dcesynth from its env, never through the
# host's sys.path, and always the checkout that runs it, also where envs are shared
# (--conda-prefix) between checkouts. Only dcesynth is found this way, no other host package.
set -euo pipefail
: "${DCESYNTH_PACKAGE:?is set by the Snakefile (run this env through snakemake --use-conda)}"
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > "$site/_dcesynth_checkout.py" <<'PY'
"""Finds dcesynth in the folder DCESYNTH_PACKAGE names (written by the workflow's envs/*.post-deploy.sh)."""
import importlib.abc
import importlib.util
import os
import sys


class DcesynthCheckout(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        folder = os.environ.get("DCESYNTH_PACKAGE")
        if name != "dcesynth" or not folder:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])


sys.meta_path.insert(0, DcesynthCheckout())
PY
printf 'import _dcesynth_checkout\n' > "$site/_dcesynth_checkout.pth"
python -c 'import dcesynth, sys; sys.stdout.write(f"dcesynth {dcesynth.__version__} from {dcesynth.__path__[0]}\n")'
