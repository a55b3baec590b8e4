"""Optimizers with torch.optim's update equations and state_dict format, and LR schedulers.

Each step runs under ``no_grad`` and calls the backend's update kernel (``sgd_step``,
``adam_step``, ``rmsprop_step``) on one parameter group's arrays, in place.
"""

from minigan.optim import lr_scheduler
from minigan.optim.adam import Adam, AdamW
from minigan.optim.optimizer import Optimizer
from minigan.optim.rmsprop import RMSprop
from minigan.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
