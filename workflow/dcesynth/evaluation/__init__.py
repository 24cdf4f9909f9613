"""Evaluation of synthetic slices: the metric networks (:mod:`.features`), seeded pair samples
(:mod:`.sampling`), per-epoch scores and SAMe epoch selection (:mod:`.epochs`), the paper's
Table 1 (:mod:`.table1`), tumour-region metrics (:mod:`.tumour_region`) and the ranking of
synthesis models by mean per-metric rank (:mod:`.ranking`)."""

from .epochs import PAPER_SAME_METRICS, best_epoch, evaluate_generator, score_epochs, select_best_epoch
from .features import InceptionFeatures, LPIPSNet, RadImageNetFeatures, distribution_extractors, lpips_network
from .sampling import gather, sample_slices
from .table1 import beside_paper, quality_table, read_paper_table
from .tumour_region import TUMOUR_REGION_COLUMNS, tumour_region_table

__all__ = [
    "PAPER_SAME_METRICS",
    "TUMOUR_REGION_COLUMNS",
    "best_epoch",
    "InceptionFeatures",
    "LPIPSNet",
    "RadImageNetFeatures",
    "distribution_extractors",
    "evaluate_generator",
    "gather",
    "lpips_network",
    "quality_table",
    "read_paper_table",
    "beside_paper",
    "sample_slices",
    "score_epochs",
    "select_best_epoch",
    "tumour_region_table",
]
