"""The VGG19 perceptual loss of pix2pixHD (NVIDIA's layers and weights), also the U-Net's optional term.

The VGG19 weights come from a local file (a torchvision ``vgg19`` state dict, or one holding
only its ``features``); nothing is downloaded. ``mode='random'`` uses a seeded, untrained VGG19
and must be chosen explicitly; ``'off'`` drops the term.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..weights import is_pretrained, load_state_dict, sha256

# torchvision vgg19().features slices ending at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
VGG_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
# torchvision's VGG19 ("E"): conv3x3 widths, "M" a 2x2 max pool; and its classifier's linear layers
VGG19_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG19_CLASSIFIER = ((512 * 7 * 7, 4096), (4096, 4096), (4096, 1000))


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features`` (same layers, same state-dict keys), built without
    importing torchvision: its models package pulls in torch._dynamo, 1.5 s of every epoch job."""
    layers, channels = [], 3
    for width in VGG19_LAYERS:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers)


def seeded_vgg19_features(seed: int) -> nn.Sequential:
    """``torch.manual_seed(seed); torchvision.models.vgg19(weights=None).features``, bit for bit: the
    random numbers are drawn in torchvision's order (each layer's default initialisation as it is
    built, the classifier's included, then Kaiming-normal convolutions). The classifier's own
    re-initialisation comes last and changes nothing here, so it is left out (0.5 s)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features = vgg19_features()
        for n_in, n_out in VGG19_CLASSIFIER:
            nn.Linear(n_in, n_out)  # its default initialisation's draws, which the convolutions' follow
        for m in features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
    return features


class VGGLoss(nn.Module):
    """Weighted L1 between VGG19 features of fake and real images (NVIDIA's weights)."""

    def __init__(self, mode: str = "pretrained", weights: str | None = None, seed: int = 0):
        super().__init__()
        pretrained = is_pretrained(mode, weights, "gan.vgg", "the VGG19 perceptual loss needs a local weights file "
                                   "(torchvision vgg19 state dict)")  # fmt: skip
        self.provenance = {"mode": mode, "file": None, "sha256": None}
        if pretrained:
            state = load_state_dict(weights, "gan.vgg.weights")
            state = {k.removeprefix("features."): v.float() if v.is_floating_point() else v
                     for k, v in state.items() if not k.startswith("classifier.")}  # fmt: skip
            with torch.device("meta"):  # no random initialisation to overwrite (1.4 s of every epoch job)
                features = vgg19_features()
            try:
                features.load_state_dict(state, assign=True)
            except RuntimeError as exc:
                detail = " ".join(str(exc).split()[6:])[:300]  # after "Error(s) in loading state_dict for Sequential:"
                raise ConfigError(f"gan.vgg.weights: {weights} is not a torchvision VGG19 state dict: {detail}") from None
            self.provenance = {"mode": mode, "file": str(weights), "sha256": sha256(weights)}
        else:
            features = seeded_vgg19_features(seed)
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in VGG_SLICES)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        # Multi-phase outputs: each channel is a grey image, scored on its own and averaged.
        if fake.shape[1] not in (1, 3):
            fake = fake.reshape(-1, 1, *fake.shape[2:])
            real = real.reshape(-1, 1, *real.shape[2:])
        with torch.no_grad():
            real_feats = self._features(real)
        fake_feats = self._features(fake)
        return sum(w * F.l1_loss(f, r) for w, f, r in zip(VGG_WEIGHTS, fake_feats, real_feats))
