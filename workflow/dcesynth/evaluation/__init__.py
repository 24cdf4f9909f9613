"""Evaluation of synthetic slices: the metric networks (:mod:`.features`), seeded pair samples
(:mod:`.sampling`), per-epoch scores and SAMe epoch selection (:mod:`.epochs`), the paper's
Table 1 (:mod:`.table1`), tumour-region metrics (:mod:`.tumour_region`) and the ranking of
synthesis models by mean per-metric rank (:mod:`.ranking`)."""

import importlib

# Each name from the module that defines it, imported when first used: the jobs that choose an
# epoch, tabulate or export for MAMA-SYNTH do not load torch and the feature networks.
_FROM = {
    "epochs": ("PAPER_SAME_METRICS", "best_epoch", "evaluate_generator", "score_epochs", "select_best_epoch"),
    "features": ("InceptionFeatures", "LPIPSNet", "RadImageNetFeatures", "distribution_extractors", "lpips_network"),
    "sampling": ("gather", "sample_slices"),
    "table1": ("beside_paper", "quality_table", "read_paper_table"),
    "tumour_region": ("TUMOUR_REGION_COLUMNS", "tumour_region_table"),
}
_MODULE = {name: module for module, names in _FROM.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str):
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
