"""A second device on a machine that has only a CPU, for catching device mix-ups in tests.

Inside :class:`SimulatedDevice`, ``tensor.to("meta")`` (and any factory call with ``device="meta"``) gives a
:class:`DeviceTensor`: it reports the ``meta`` device but carries real CPU data, so a model moved there runs
its real forward, backward and optimizer step — data-dependent ops (``tolist``, ``nonzero``, ``item``) included.
An op that mixes such a tensor with a CPU tensor raises as CUDA does (``Expected all tensors to be on the same
device``), with CUDA's own exceptions: 0-dim CPU tensors (scalars) and CPU index tensors of advanced indexing
are accepted. Code that forgets to move a batch, an advantage vector or a reference log-prob to the model's
device fails here as it would on a GPU.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, return_and_correct_aliasing
from torch.utils._pytree import tree_map

DEVICE = torch.device("meta")
_INDEX_OPS = {
    torch.ops.aten.index.Tensor,
    torch.ops.aten.index_put.default,
    torch.ops.aten.index_put_.default,
    torch.ops.aten._index_put_impl_.default,
}
_HOST_READS = (torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.__array__)


class DeviceTensor(torch.Tensor):
    """A tensor on the simulated device: reports ``meta``, computes on its CPU ``inner`` tensor."""

    @staticmethod
    def __new__(cls, inner: torch.Tensor):
        return torch.Tensor._make_wrapper_subclass(
            cls,
            inner.shape,
            strides=inner.stride(),
            storage_offset=inner.storage_offset(),
            dtype=inner.dtype,
            device=DEVICE,
            requires_grad=inner.requires_grad,
            layout=inner.layout,
        )

    def __init__(self, inner: torch.Tensor):
        self.inner = inner

    def __repr__(self) -> str:
        return f"DeviceTensor({self.inner!r})"

    def __tensor_flatten__(self):
        return ["inner"], None

    @staticmethod
    def __tensor_unflatten__(inner_tensors, meta, outer_size, outer_stride):
        return DeviceTensor(inner_tensors["inner"])

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        unwrap = lambda t: t.inner if isinstance(t, DeviceTensor) else t  # noqa: E731
        if func is torch.ops.aten._to_copy.default and kwargs.get("device") not in (None, DEVICE):
            return func(*tree_map(unwrap, args), **kwargs)  # device → host
        on_device = _check_devices(func, args, kwargs)
        if _is_device(kwargs.get("device")):
            kwargs["device"] = torch.device("cpu")
        out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs))
        if not on_device:
            return out
        return return_and_correct_aliasing(func, args, kwargs, _wrap(out))


def _wrap(out):
    return tree_map(lambda t: DeviceTensor(t) if type(t) is torch.Tensor else t, out)


def _check_devices(func, args, kwargs) -> bool:
    """Raise on a CPU tensor meeting a device tensor (as CUDA does); True when any argument is on the device."""
    seen = set()

    def note(t):
        if isinstance(t, DeviceTensor):
            seen.add("device")
        elif isinstance(t, torch.Tensor) and t.dim() > 0:
            seen.add(str(t.device))
        return t

    # advanced indexing accepts CPU index tensors on any device
    tree_map(note, (args[0], args[2:], kwargs) if func in _INDEX_OPS else (args, kwargs))
    if len(seen) > 1:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found {sorted(seen)} in {func}")
    return "device" in seen


def _is_device(device) -> bool:
    return device is not None and torch.device(device) == DEVICE


class _Factories(TorchDispatchMode):
    """Tensors made on the device (factories, ``.to(device)`` of a host tensor, tensors torch makes inside
    composite ops) are made in host memory and wrapped."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        wrapped_args = any(isinstance(t, DeviceTensor) for t in torch.utils._pytree.tree_leaves((args, kwargs)))
        if _is_device(kwargs.get("device")) and not wrapped_args:
            kwargs["device"] = torch.device("cpu")
            return _wrap(func(*args, **kwargs))
        return func(*args, **kwargs)


class _HostReads(TorchFunctionMode):
    """Python-level reads of device data (``tolist``, ``numpy``, ``torch.tensor`` of device scalars): copies to
    the host, as they are on CUDA."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _HOST_READS and isinstance(args[0], DeviceTensor):
            return func(args[0].inner, *args[1:], **kwargs)
        if func in (torch.tensor, torch.as_tensor):
            args = tree_map(lambda t: t.inner if isinstance(t, DeviceTensor) else t, args)
            if _is_device(kwargs.get("device")):  # built on the host, then moved (wrapped) like any tensor
                return func(*args, **{**kwargs, "device": "cpu"}).to(DEVICE)
        return func(*args, **kwargs)


@contextmanager
def simulated_device():
    """While active, ``meta`` is a real device whose tensors live in host memory (see the module docstring):
    ``model.to("meta")`` moves a model there (its parameters are replaced, not swapped in place). Load models
    before entering: transformers builds them on ``meta`` itself while loading."""
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        with _HostReads(), _Factories():
            yield DEVICE
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)


def move_to_device(model: torch.nn.Module) -> torch.nn.Module:
    """Put every parameter and buffer of ``model`` on the simulated device (tied weights stay tied)."""
    moved: dict[int, torch.nn.Parameter] = {}
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                if id(param) not in moved:
                    moved[id(param)] = torch.nn.Parameter(DeviceTensor(param.data), requires_grad=param.requires_grad)
                module._parameters[name] = moved[id(param)]
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                module._buffers[name] = DeviceTensor(buffer)
    return model
