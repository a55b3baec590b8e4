"""torch.utils counterparts: ``minigan.utils.data`` (Dataset, DataLoader and friends)."""

from minigan.utils import data

__all__ = ["data"]
