"""The U-Net as an ONNX graph, written with the ``onnx`` package's own helpers.

No torch: each layer becomes its ONNX operator — ``Conv`` (valid, 3x3 or
1x1), ``Relu``, ``MaxPool`` (2x2, stride 2), ``ConvTranspose`` (2x2,
stride 2), ``Slice`` for the centre crop and ``Concat`` (the skip in
front) — with the weights as initializers in ONNX's channels-first layout.
The graph is checked by ``onnx.checker`` before it is written.

Batch, height and width are dynamic (``N``, ``H``, ``W``): a crop's offset
is the same at every valid input size (the contracting path loses a fixed
number of pixels more than the expanding path gains back), so one graph
serves every size. The sizes must still be valid U-Net sizes
(:func:`aplnet.unet.valid_input_sizes`); the model's doc string says so.

Opset 17 (ONNX 1.12 and later, onnxruntime 1.12 and later); IR version 8.
The graph is float32 (onnxruntime's CPU convolutions are float32); a
float64 net's weights are rounded to float32.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .apl import DomainError
from .unet import UNet, valid_input_sizes

__all__ = ["OPSET", "IR_VERSION", "crop_offsets", "build_model", "export"]

OPSET = 17
IR_VERSION = 8


def crop_offsets(depth):
    """Pixels cropped from each side of the skip at each level (0 is the top).

    The same at every valid input size, so the exported graph needs no
    shape arithmetic.

    >>> crop_offsets(5)
    [88, 40, 16, 4]
    >>> crop_offsets(1)
    []
    """
    offsets = []
    sizes = list(valid_input_sizes(depth, 10 ** 6))[:2]
    for n in sizes:
        skips, level_offsets = [], []
        for _ in range(depth - 1):
            n -= 4
            skips.append(n)
            n //= 2
        n -= 4
        for skip in reversed(skips):
            n = 2 * n
            level_offsets.append((skip - n) // 2)
            n -= 4
        offsets.append(level_offsets[::-1])
    if offsets[0] != offsets[1]:
        raise AssertionError(f"crop offsets depend on the size: {offsets}")
    return offsets[0]


def build_model(net):
    """The ``onnx.ModelProto`` of ``net``: input ``image`` (N, C, H, W), outputs ``logits`` and ``probabilities``.

    Parameters
    ----------
    net : UNet

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``.

    Examples
    --------
    >>> model = build_model(UNet(depth=2, width=2))
    >>> [o.name for o in model.graph.output], model.opset_import[0].version
    (['logits', 'probabilities'], 17)
    >>> sorted({node.op_type for node in model.graph.node})
    ['Concat', 'Conv', 'ConvTranspose', 'MaxPool', 'Relu', 'Slice', 'Softmax']
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not isinstance(net, UNet):
        raise TypeError(f"build_model: net must be an aplnet UNet; got {type(net).__name__}")
    nodes, weights = [], []

    def initializer(name, array):
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def conv(layer, x, relu=True, output=None):
        w = net.params[layer + ".w"]
        inputs = [x, initializer(layer + ".weight", w.transpose(3, 2, 0, 1))]
        if net.bias:
            inputs.append(initializer(layer + ".bias", net.params[layer + ".b"]))
        nodes.append(helper.make_node("Conv", inputs, [output or layer], name=layer,
                                      kernel_shape=list(w.shape[:2]), pads=[0, 0, 0, 0]))
        if not relu:
            return output or layer
        nodes.append(helper.make_node("Relu", [layer], [layer + ".relu"], name=layer + ".relu"))
        return layer + ".relu"

    def double_conv(group, x):
        return conv(f"{group}.conv1", conv(f"{group}.conv0", x))

    skips, h = [], "image"
    for level in range(net.depth - 1):
        h = double_conv(f"down{level}", h)
        skips.append(h)
        nodes.append(helper.make_node("MaxPool", [h], [f"down{level}.pool"],
                                      name=f"down{level}.pool", kernel_shape=[2, 2],
                                      strides=[2, 2]))
        h = f"down{level}.pool"
    h = double_conv("bottom", h)
    offsets = crop_offsets(net.depth)
    axes = "crop.axes"
    if net.depth > 1:
        weights.append(numpy_helper.from_array(np.array([2, 3], np.int64), axes))
    for level in reversed(range(net.depth - 1)):
        layer = f"up{level}.upconv"
        inputs = [h, initializer(layer + ".weight",
                                 net.params[layer + ".w"].transpose(2, 3, 0, 1))]
        if net.bias:
            inputs.append(initializer(layer + ".bias", net.params[layer + ".b"]))
        nodes.append(helper.make_node("ConvTranspose", inputs, [layer], name=layer,
                                      kernel_shape=[2, 2], strides=[2, 2]))
        k = offsets[level]
        starts = f"up{level}.crop.starts"
        ends = f"up{level}.crop.ends"
        weights.append(numpy_helper.from_array(np.array([k, k], np.int64), starts))
        # an end of -0 would mean the start: with no crop, slice to the largest end
        end = -k if k else np.iinfo(np.int64).max
        weights.append(numpy_helper.from_array(np.array([end, end], np.int64), ends))
        nodes.append(helper.make_node("Slice", [skips.pop(), starts, ends, axes],
                                      [f"up{level}.crop"], name=f"up{level}.crop"))
        nodes.append(helper.make_node("Concat", [f"up{level}.crop", layer],
                                      [f"up{level}.concat"], name=f"up{level}.concat", axis=1))
        h = double_conv(f"up{level}", f"up{level}.concat")
    logits = conv("out.conv", h, relu=False, output="logits")
    nodes.append(helper.make_node("Softmax", [logits], ["probabilities"], name="softmax",
                                  axis=1))
    dims = ["N", net.in_channels, "H", "W"]
    out_dims = ["N", net.classes, "Ho", "Wo"]
    graph = helper.make_graph(
        nodes, "aplnet_unet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_dims),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, out_dims)],
        initializer=weights)
    sizes = valid_input_sizes(net.depth, 10 ** 6)
    loss = sizes[0] - net.output_size(sizes[0])
    graph.doc_string = (
        f"aplnet U-Net {net!r}. Input 'image' (N, {net.in_channels}, H, W) float32, NCHW; "
        f"H and W must be valid U-Net sizes for depth {net.depth}: {sizes[0]} + "
        f"{sizes.step}k ({sizes[0]}, {sizes[1]}, {sizes[2]}, ...). Outputs 'logits' and "
        f"'probabilities' (softmax over classes) of shape (N, {net.classes}, H - {loss}, "
        f"W - {loss}) (valid convolutions).")
    model = helper.make_model(graph, producer_name="aplnet", ir_version=IR_VERSION,
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=graph.doc_string)
    onnx.checker.check_model(model, full_check=True)
    return model


def export(net, path, overwrite=False):
    """Write ``net`` to ``path`` as an ONNX model (temporary file, then a rename).

    Parameters
    ----------
    net : UNet
    path : str
        The .onnx file.
    overwrite : bool
        Replace an existing file; otherwise it is refused.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    DomainError
        ``path`` exists and ``overwrite`` is false; the message names it.
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not overwrite:
        raise DomainError(f"{path}: exists; refusing to overwrite it (give --overwrite)")
    model = build_model(net)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DomainError(f"{path}: no such directory {folder}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".onnx")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
