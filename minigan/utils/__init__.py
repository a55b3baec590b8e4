"""torch.utils counterparts: ``minigan.utils.data`` (Dataset, DataLoader and friends), and
torchvision.utils' ``make_grid`` / ``save_image`` for GAN scripts' sample grids."""

from minigan.utils import data
from minigan.utils.image import make_grid, save_image

__all__ = ["data", "make_grid", "save_image"]
