"""The bridge to PyTorch: an aplnet U-Net as a ``torch.nn.Module``, and back.

:func:`to_torch` builds a module computing the same network — channels
first (NCHW), valid 3x3 convolutions, 2x2 max pooling, 2x2 transposed
convolutions of stride 2, centre crop and concatenation (the skip in
front, as in :class:`aplnet.unet.UNet`), a final 1x1 convolution, a bias
wherever the net has one — with the weights copied and the dtype kept.
Its ``state_dict`` keys are aplnet's parameter names with ``.w`` spelt
``.weight`` and ``.b`` spelt ``.bias`` (``down0.conv0.weight``, …,
``out.conv.weight``), so a checkpoint trained further in PyTorch comes
back with :func:`from_torch` (or ``UNet.from_torch``).

Kernels are stored channels-last in aplnet, ``(kh, kw, C, K)``; torch
keeps a convolution's as ``(K, C, kh, kw)`` and a transposed
convolution's as ``(C, K, kh, kw)``. The conversion is a transpose, so a
round trip aplnet → torch → aplnet is exact.

torch is an optional extra (``pip install "aplnet[torch]"``), imported
only when a function here is called.
"""

from __future__ import annotations

import numpy as np

from .apl import DomainError, LengthError
from .unet import UNet

__all__ = ["to_torch", "from_torch", "state_dict", "torch_name", "aplnet_name"]


def torch_name(name):
    """The torch ``state_dict`` key of an aplnet parameter name.

    >>> torch_name("up1.upconv.w"), torch_name("out.conv.b")
    ('up1.upconv.weight', 'out.conv.bias')
    """
    layer, _, kind = name.rpartition(".")
    return f"{layer}.{ {'w': 'weight', 'b': 'bias'}[kind] }"


def aplnet_name(key):
    """The aplnet parameter name of a torch ``state_dict`` key (None if it is not one).

    >>> aplnet_name("down0.conv1.weight"), aplnet_name("fc.running_mean")
    ('down0.conv1.w', None)
    """
    layer, _, kind = key.rpartition(".")
    suffix = {"weight": "w", "bias": "b"}.get(kind)
    return f"{layer}.{suffix}" if suffix and layer else None


def _to_torch_layout(name, kind, array):
    if name.endswith(".b"):
        return array
    return array.transpose((2, 3, 0, 1) if kind == "upconv" else (3, 2, 0, 1))


def _to_aplnet_layout(name, kind, array):
    if name.endswith(".b"):
        return array
    return array.transpose((2, 3, 0, 1) if kind == "upconv" else (2, 3, 1, 0))


def _kinds(net):
    kinds = {}
    for layer, kind, _ in net.layout():
        kinds[layer + ".w"] = kinds[layer + ".b"] = kind
    return kinds


def state_dict(net):
    """The net's parameters as numpy arrays in torch's layout, under torch's keys.

    Parameters
    ----------
    net : UNet

    Returns
    -------
    dict of str → ndarray
        ``{torch key: array}``, contiguous, in :meth:`UNet.layout` order.

    Examples
    --------
    >>> net = UNet(depth=2, width=2, seed=0)
    >>> {k: v.shape for k, v in state_dict(net).items() if k.startswith("up0")}
    {'up0.upconv.weight': (4, 2, 2, 2), 'up0.conv0.weight': (2, 4, 3, 3), 'up0.conv1.weight': (2, 2, 3, 3)}
    """
    kinds = _kinds(net)
    return {torch_name(k): np.ascontiguousarray(_to_torch_layout(k, kinds[k], v))
            for k, v in net.params.items()}


def _module_class():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class TorchUNet(nn.Module):
        """The aplnet U-Net in PyTorch: NCHW in, NCHW logits out (valid convolutions).

        The ReLUs work in place on the convolutions' fresh outputs (autograd
        allows it: a convolution's backward does not need its output).

        ``config`` is the aplnet network's config; :func:`aplnet.interop.from_torch`
        reads it back.
        """

        def __init__(self, config):
            super().__init__()
            self.config = dict(config)
            shape_net = UNet(**config)
            dtype = getattr(torch, config["dtype"])
            bias = config["bias"]
            groups = {}
            for name, kind, (kh, kw, c_in, c_out) in shape_net.layout():
                group, _, layer = name.partition(".")
                if kind == "upconv":
                    module = nn.ConvTranspose2d(c_in, c_out, (kh, kw), stride=2, bias=bias,
                                                dtype=dtype)
                else:
                    module = nn.Conv2d(c_in, c_out, (kh, kw), bias=bias, dtype=dtype)
                groups.setdefault(group, nn.ModuleDict())[layer] = module
            self.layers = nn.ModuleDict(groups)
            self.depth = config["depth"]

        def _double_conv(self, group, h):
            for i in (0, 1):
                h = F.relu(self.layers[group][f"conv{i}"](h), inplace=True)  # as the benchmark's
            return h

        def forward(self, x):
            skips = []
            for level in range(self.depth - 1):
                x = self._double_conv(f"down{level}", x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self._double_conv("bottom", x)
            for level in reversed(range(self.depth - 1)):
                u = self.layers[f"up{level}"]["upconv"](x)
                skip = skips.pop()
                top = (skip.shape[-2] - u.shape[-2]) // 2
                left = (skip.shape[-1] - u.shape[-1]) // 2
                skip = skip[..., top:top + u.shape[-2], left:left + u.shape[-1]]
                x = self._double_conv(f"up{level}", torch.cat([skip, u], dim=1))
            return self.layers["out"]["conv"](x)

        def extra_repr(self):
            return ", ".join(f"{k}={v!r}" for k, v in self.config.items())

    return TorchUNet


def _strip_prefix(states):
    """Keys as :func:`state_dict` names them (the module's own start with ``layers.``)."""
    return {(k[len("layers."):] if k.startswith("layers.") else k): v for k, v in states.items()}


def to_torch(net):
    """A ``torch.nn.Module`` computing ``net``, with a copy of its weights.

    Parameters
    ----------
    net : UNet

    Returns
    -------
    torch.nn.Module
        Called on an ``(N, in_channels, H, W)`` tensor of the net's dtype
        (H and W valid input sizes), it returns the ``(N, classes, Ho, Wo)``
        logits. ``module.config`` is ``net.config``; the keys of
        ``module.state_dict()`` are ``layers.`` + :func:`torch_name` of
        each parameter.

    Examples
    --------
    >>> import torch
    >>> net = UNet(depth=2, width=2, seed=0)
    >>> module = to_torch(net)
    >>> x = np.random.default_rng(0).standard_normal((1, 20, 20, 1)).astype(np.float32)
    >>> logits = module(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy()
    >>> logits.shape
    (1, 2, 4, 4)
    >>> error = np.abs(logits.transpose(0, 2, 3, 1) - net(x)).max() / np.abs(net(x)).max()
    >>> bool(error < 1e-5)        # float32 rounding: the sums are taken in another order
    True
    """
    import torch

    if not isinstance(net, UNet):
        raise TypeError(f"to_torch: net must be an aplnet UNet; got {type(net).__name__}")
    module = _module_class()(net.config)
    arrays = state_dict(net)
    with torch.no_grad():
        for key, tensor in _strip_prefix(module.state_dict(keep_vars=True)).items():
            tensor.copy_(torch.from_numpy(arrays[key]))
    return module


def _tensor_array(value, key):
    if isinstance(value, np.ndarray):
        return value
    detach = getattr(value, "detach", None)
    if detach is None:
        raise TypeError(f"from_torch: {key} must be a tensor or an array; got {type(value).__name__}")
    return detach().cpu().numpy()


def _infer_config(states, given, source):
    first = next(iter(states), None)
    if "down0.conv0.weight" not in states and "bottom.conv0.weight" not in states:
        what = (f"its first key is {first!r} of shape {tuple(states[first].shape)}"
                if first is not None else "it is empty")
        raise LengthError(f"{source}: not an aplnet U-Net state_dict: no key "
                          f"'down0.conv0.weight' ({what})")
    depth = 1
    while f"down{depth - 1}.conv0.weight" in states:
        depth += 1
    top = states["down0.conv0.weight" if depth > 1 else "bottom.conv0.weight"]
    out = states.get("out.conv.weight")
    config = {"depth": depth, "width": int(top.shape[0]), "in_channels": int(top.shape[1]),
              "classes": int(out.shape[0]) if out is not None and out.ndim == 4 else 2,
              "bias": any(k.endswith(".bias") for k in states),
              "dtype": str(top.dtype)}
    config.update({k: v for k, v in given.items() if v is not None})
    if config["dtype"] not in ("float32", "float64"):
        raise DomainError(f"{source}: the weights are {config['dtype']}; aplnet holds float32 "
                          f"or float64 (convert the module with .float() or .double())")
    return config


def from_torch(module_or_state_dict, depth=None, width=None, in_channels=None, classes=None,
               bias=None, dtype=None):
    """The aplnet U-Net holding a torch module's (or state_dict's) weights.

    Parameters
    ----------
    module_or_state_dict : torch.nn.Module or mapping of str → tensor or ndarray
        A module from :func:`to_torch` (its ``config`` is used), or any
        state_dict with :func:`to_torch`'s keys (optionally prefixed
        ``layers.``), e.g. one saved with ``torch.save``.
    depth, width, in_channels, classes, bias, dtype : optional
        The architecture; by default read from the module's ``config`` or
        inferred from the state_dict's keys and shapes. Given ones must
        agree with the weights.

    Returns
    -------
    UNet
        Its weights equal the module's exactly (a transpose of each).

    Raises
    ------
    LengthError
        A state_dict of another architecture: the message names the first
        key that is missing, unexpected or of the wrong shape, with the
        shapes.
    DomainError
        Weights of another dtype than float32/float64, or NaN/Inf weights.

    Examples
    --------
    >>> net = UNet(depth=2, width=2, seed=3)
    >>> back = from_torch(state_dict(net))
    >>> back.config == {**net.config, "seed": 0, "init": "he"}, all(
    ...     np.array_equal(back.params[k], v) for k, v in net.params.items())
    (True, True)
    >>> from_torch({"fc.weight": np.zeros((10, 4), np.float32)})
    Traceback (most recent call last):
    ...
    aplnet.apl.LengthError: state_dict: not an aplnet U-Net state_dict: no key 'down0.conv0.weight' (its first key is 'fc.weight' of shape (10, 4))
    """
    given = {"depth": depth, "width": width, "in_channels": in_channels, "classes": classes,
             "bias": bias, "dtype": None if dtype is None else np.dtype(dtype).name}
    config_of_module = getattr(module_or_state_dict, "config", None)
    if hasattr(module_or_state_dict, "state_dict"):
        source = f"{type(module_or_state_dict).__name__} module"
        raw = module_or_state_dict.state_dict()
    elif hasattr(module_or_state_dict, "items"):
        source, raw = "state_dict", module_or_state_dict
    else:
        raise TypeError(f"from_torch: expected a torch module or a state_dict; got "
                        f"{type(module_or_state_dict).__name__}")
    states = {k: _tensor_array(v, k) for k, v in _strip_prefix(dict(raw)).items()}
    if isinstance(config_of_module, dict):
        config = {k: config_of_module[k] for k in
                  ("depth", "width", "in_channels", "classes", "bias", "init", "seed", "dtype")
                  if k in config_of_module}
        config.update({k: v for k, v in given.items() if v is not None})
    else:
        config = _infer_config(states, given, source)
    net = UNet(**config)
    kinds = _kinds(net)
    expected = {torch_name(k): _to_torch_layout(k, kinds[k], v).shape
                for k, v in net.params.items()}
    for key, shape in expected.items():
        if key not in states:
            raise LengthError(f"{source}: key {key!r} (shape {shape}) is missing for {net!r}")
        if tuple(states[key].shape) != shape:
            raise LengthError(f"{source}: key {key!r} has shape {tuple(states[key].shape)} but "
                              f"{net!r} needs {shape}")
    for key in states:
        if key not in expected:
            raise LengthError(f"{source}: unexpected key {key!r} (shape "
                              f"{tuple(states[key].shape)}) for {net!r}")
    for name in net.params:
        array = states[torch_name(name)]
        if not np.isfinite(array).all():
            raise DomainError(f"{source}: {torch_name(name)} holds NaN or Inf values")
        net.params[name] = np.array(_to_aplnet_layout(name, kinds[name], array),
                                    dtype=net.dtype, order="C", copy=True)
    return net
