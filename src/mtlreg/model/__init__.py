"""Shallow multi-output ReLU networks and their norms.

>>> from mtlreg.model import ShallowReLUNet
>>> net = ShallowReLUNet(in_dim=1, out_dim=3, width=16, seed=0)
>>> bool(net.vv_norm() <= net.weight_decay())
True
"""

from mtlreg.model._network import ShallowReLUNet

__all__ = ["ShallowReLUNet"]
