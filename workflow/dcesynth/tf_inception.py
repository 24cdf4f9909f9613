"""The Inception v3 of TensorFlow's FID (the 2015-12-05 graph, ``pool_3``), in torch.

The authors computed FID_ImageNet with TF-GAN, whose Inception is Google's 2015-12-05 graph, not
torchvision's ImageNet model: the same topology, other weights (1008 classes), and three pooling
differences in the mixed blocks, which change every feature:

- the average-pooling branch of Mixed_5b–5d (InceptionA), Mixed_6b–6e (InceptionC) and Mixed_7b
  (InceptionE) does not count the zero padding in its mean (TensorFlow's ``SAME`` pooling);
- the pooling branch of Mixed_7c is a 3×3 *max* pool.

Its weights are the ``pt_inception-2015-12-05-6726825d.pth`` state dict that pytorch-fid converted
from the TensorFlow graph, read from a local file (nothing is downloaded); torchvision's key names.
Inputs are 299×299 RGB in [-1, 1]; the features are the 2048 means of Mixed_7c (``pool_3``).
``tests/test_fid_networks.py`` cross-checks this module against pytorch-fid's own on one state dict.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torchvision.models import inception as tv


def _avg_pool_unpadded(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _MixedA(tv.InceptionA):
    def _forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_unpadded(x))]


class _MixedC(tv.InceptionC):
    def _forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):  # fmt: skip
            bd = conv(bd)
        return [self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool_unpadded(x))]


class _MixedE(tv.InceptionE):
    """Mixed_7b (``max_pool=False``) and Mixed_7c (``max_pool=True``)."""

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def _forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_unpadded(x)
        return [self.branch1x1(x), b3, bd, self.branch_pool(pooled)]


def build() -> tv.Inception3:
    """The 2015-12-05 Inception (1008 classes, no auxiliary head, no input transform), untrained."""
    net = tv.Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    net.Mixed_5b = _MixedA(192, pool_features=32)
    net.Mixed_5c = _MixedA(256, pool_features=64)
    net.Mixed_5d = _MixedA(288, pool_features=64)
    net.Mixed_6b = _MixedC(768, channels_7x7=128)
    net.Mixed_6c = _MixedC(768, channels_7x7=160)
    net.Mixed_6d = _MixedC(768, channels_7x7=160)
    net.Mixed_6e = _MixedC(768, channels_7x7=192)
    net.Mixed_7b = _MixedE(1280, max_pool=False)
    net.Mixed_7c = _MixedE(2048, max_pool=True)
    return net
