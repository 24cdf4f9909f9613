"""pix2pixHD's own losses: LSGAN and discriminator feature matching (the VGG19 perceptual term,
shared with the U-Net, is :mod:`dcesynth.training.perceptual`)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def lsgan_loss(predictions: list[list[torch.Tensor]], target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss summed over the discriminator scales (last feature = prediction)."""
    loss = 0.0
    for feats in predictions:
        pred = feats[-1]
        target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
        loss = loss + F.mse_loss(pred, target)
    return loss


def feature_matching_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]], n_layers: int) -> torch.Tensor:
    """Σ_D Σ_layers (4/(n_layers+1)) (1/num_D) L1(fake, real), final predictions excluded."""
    feat_w, d_w = 4.0 / (n_layers + 1), 1.0 / len(fake)
    loss = 0.0
    for f_feats, r_feats in zip(fake, real):
        for f, r in zip(f_feats[:-1], r_feats[:-1]):
            loss = loss + d_w * feat_w * F.l1_loss(f, r.detach())
    return loss
