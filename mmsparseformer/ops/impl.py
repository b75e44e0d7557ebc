"""One switch for the implementation of every op.

An op with several implementations of the same function (the early
convolution, attention, sampling + mixing, the MLP) subclasses
:class:`MultiImplOp` and asks :meth:`MultiImplOp.resolve_impl` which one a
call runs. The setting (``impl``, one value for the whole model,
docs/model.md, "Implementations"):

``'reference'``
    The direct implementation of the definition (3D convolution and
    max-pool, ``grid_sample``, ``scaled_dot_product_attention``): the
    official library's way, kept as the reference of tests and speed.
``'pytorch'``
    Faster PyTorch ops with the same outputs (per-frame channels-last
    convolution, ``embedding_bag`` sampling); what training, autocast, GPUs
    and exporters run.
``'kernels'``
    The compiled CPU kernels of :mod:`mmsparseformer.ops.kernels` in every op
    that has one; a call they cannot serve raises an error saying why.
``'auto'`` (default)
    The kernels where they can serve a call (float32 CPU inference, built
    or buildable), ``'pytorch'`` everywhere else.
"""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .kernels import kernels_unavailable

#: The values of the ``impl`` setting.
IMPLS = ('auto', 'kernels', 'pytorch', 'reference')


def check_impl(impl: str) -> str:
    """``impl`` if it is one of :data:`IMPLS`, else a ValueError."""
    if impl not in IMPLS:
        raise ValueError(f'impl={impl!r} is not an implementation; choose '
                         f'from {list(IMPLS)}')
    return impl


class MultiImplOp(nn.Module):
    """An op with a reference, a PyTorch and (maybe) a kernel
    implementation, chosen per call from :attr:`impl`.

    Args:
        impl (str): One of :data:`IMPLS`. Defaults to ``'auto'``.
    """

    def __init__(self, impl: str = 'auto') -> None:
        super().__init__()
        self.impl = check_impl(impl)

    def resolve_impl(self, *tensors: Tensor,
                     unsupported: Optional[str] = None) -> str:
        """``'reference'``, ``'pytorch'`` or ``'kernels'`` for a call.

        Args:
            *tensors: The call's inputs and the op's parameters (the kernels
                take float32 CPU tensors that need no gradient).
            unsupported (str, optional): Why the op's kernel cannot serve
                this configuration (no kernel, a head size it is not built
                for...), or None.
        """
        if self.impl in ('reference', 'pytorch'):
            return self.impl
        reason = unsupported or kernels_unavailable(*tensors)
        if reason is None:
            return 'kernels'
        if self.impl == 'kernels':
            raise RuntimeError(f"{type(self).__name__}: impl='kernels' but "
                               f'the kernel cannot run this call: {reason}')
        return 'pytorch'

    def extra_repr(self) -> str:
        return f'impl={self.impl!r}'


def set_impl(module: nn.Module, impl: str) -> None:
    """Set ``impl`` of every :class:`MultiImplOp` inside ``module``."""
    check_impl(impl)
    for child in module.modules():
        if isinstance(child, MultiImplOp):
            child.impl = impl
