"""pix2pixHD (Wang et al. 2018, NVIDIA's code): the paper's family. Networks with NVIDIA's module
layout (:mod:`.networks`, so published state dicts load unchanged), its GAN losses (:mod:`.losses`)
and its training iteration (:mod:`.trainer`)."""

from __future__ import annotations

from typing import Any

# The loss terms of one training iteration, as the loss tables name them.
LOSS_COLUMNS = ["G_GAN", "G_feat", "G_VGG", "D_real", "D_fake"]


def build_pix2pixhd(input_nc: int = 3, output_nc: int = 3, **options: Any):
    """The generator, from NVIDIA's option names (``gan.generator``; missing ones take the paper's
    values): what ``build_model("pix2pixHD", options)`` returns."""
    from .networks import build_generator

    return build_generator(input_nc=input_nc, output_nc=output_nc, **options)
