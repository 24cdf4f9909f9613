"""Short nnU-Net trainers for the demo and the tests (found by nnU-Net through ``nnUNet_extTrainer``).

They change nothing but the training length: the network, loss, augmentation and schedule are
nnU-Net's own. The paper's setting is nnU-Net's shipped ``nnUNetTrainer_500epochs``.
"""

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_dcesynth_tiny(nnUNetTrainer):
    """2 epochs of 10 training and 5 validation iterations: the integration tests."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 2
        self.num_iterations_per_epoch = 10
        self.num_val_iterations_per_epoch = 5
        # a checkpoint after every epoch: a killed fold resumes from its last epoch
        self.save_every = 1


class nnUNetTrainer_dcesynth_demo(nnUNetTrainer):
    """6 epochs of 10 training and 3 validation iterations: the phantom demo on a laptop CPU
    (about 40 s per fold on one core; enough for the bright post-contrast tumours)."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 6
        self.num_iterations_per_epoch = 10
        self.num_val_iterations_per_epoch = 3
        self.save_every = 1
