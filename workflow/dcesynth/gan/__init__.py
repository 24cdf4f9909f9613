"""pix2pixHD for pre- to post-contrast synthesis: networks, losses, training, inference.

Importing the package loads the networks, states and inference, not the training loop
(``dcesynth.gan.train``), which only the training rules import."""

from .infer import translate
from .networks import build_discriminator, build_generator, infer_generator_options
from .state import export_generator, load_generator, load_state

__all__ = [
    "build_discriminator",
    "build_generator",
    "export_generator",
    "infer_generator_options",
    "load_generator",
    "load_state",
    "translate",
]
