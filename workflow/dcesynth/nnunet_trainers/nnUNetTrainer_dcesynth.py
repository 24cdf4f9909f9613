"""Short nnU-Net trainers for the demo and the tests (found by nnU-Net through ``nnUNet_extTrainer``).

They change nothing but the training length, where validation runs (without mirroring, its
export and Dice pools in the fold's own process) and when the progress plot is drawn (after the
last epoch): the network, loss, augmentation and schedule are nnU-Net's own. The paper's setting
is nnU-Net's shipped ``nnUNetTrainer_500epochs``. Each saves a checkpoint after every epoch, so a
killed fold resumes from its last epoch.
"""

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from dcesynth.nnunet import VALIDATION_POOLS, pools_in_process


class _ShortTrainer(nnUNetTrainer):
    EPOCHS, ITERATIONS, VAL_ITERATIONS = 1, 1, 1

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.EPOCHS
        self.num_iterations_per_epoch = self.ITERATIONS
        self.num_val_iterations_per_epoch = self.VAL_ITERATIONS
        self.save_every = 1

    def on_epoch_end(self) -> None:
        # nnU-Net redraws progress.png (a 30 x 54 inch figure) after every epoch: about 1 s of a
        # demo epoch's 8-14 s (py-spy, 2026-12-07). A short fold draws it once, after its last epoch
        # (the same plot: every epoch's losses and pseudo Dice).
        if self.current_epoch == self.num_epochs - 1:
            return super().on_epoch_end()
        self.logger.plot_progress_png = lambda output_folder: None
        try:
            super().on_epoch_end()
        finally:
            del self.logger.plot_progress_png  # the logger's own method again

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        # The held-out cases without mirroring, as the demo and the tests predict their test
        # cases (segmentation.tta: false): mirroring is 8 sliding windows per case in 3D, most
        # of a short fold's validation. The checkpoint, saved before, keeps the mirroring axes.
        # The export and metric pools run in this process (dcesynth.nnunet.pools_in_process).
        axes, self.inference_allowed_mirroring_axes = self.inference_allowed_mirroring_axes, None
        try:
            with pools_in_process(*VALIDATION_POOLS):
                super().perform_actual_validation(save_probabilities)
        finally:
            self.inference_allowed_mirroring_axes = axes


class nnUNetTrainer_dcesynth_tiny(_ShortTrainer):
    """2 epochs of 10 training and 5 validation iterations: the integration tests."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS = 2, 10, 5


class nnUNetTrainer_dcesynth_demo(_ShortTrainer):
    """3 epochs of 5 training and 3 validation iterations: the phantom demo on a laptop CPU (about
    30 s per fold on one core, 8 of them importing nnU-Net). It shows that every stage of the
    segmentation experiments runs, not what nnU-Net learns: with 15 iterations (as with the 30
    before 2026-12-07) the demo's Dice stays between 0 and 0.25; the paper trains 500 epochs of 250."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS = 3, 5, 3


class nnUNetTrainer_dcesynth_rehearsal(_ShortTrainer):
    """1 epoch of 2 training and 1 validation iteration: the paper-scale rehearsal
    (``python -m dcesynth.bench.paper_scale``), which measures a fold's memory and seconds per
    iteration at the paper's patch size, not what it learns."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS = 1, 2, 1

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        # nnU-Net's sliding-window prediction of the fold's held-out cases (about 10 min per 1 mm
        # breast crop on 2 CPU cores): nnunet_predict times the same sliding window
        self.print_to_log_file("rehearsal trainer: validation of the held-out cases skipped")
