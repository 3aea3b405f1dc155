#!/usr/bin/python3
"""Give MediaPipe's BlazeFace "back" ONNX graph a free input height and width,
and a shape ONNX Runtime's blocked convolutions run without layout changes.

The published graph is fully convolutional but pinned to 256x256: two channel
paddings are written as a concatenation with zero tensors of fixed shape, and
the four output reshapes name their anchor counts. Replacing those with -1
reshapes lets ONNX Runtime run the network over a whole pyramid level at once
(any height and width divisible by 32), so no face is cut by a tile edge and
no overlap is computed twice.

ONNX Runtime runs convolutions in channel blocks (NCHWc: 16 channels with
AVX-512, 8 with AVX2) and fuses
the residual additions and ReLUs into them, but only where every tensor of a
residual chain can stay blocked: the 24-channel stages and the channel
paddings of the skip paths could not, and it converted layouts back and forth
around every residual addition (a quarter of a 1080p run). So, for a block
of 16, the 24-channel tensors get 8 more channels that are zero (zero weights
and biases, which ReLU, max pooling and addition keep at zero); and for either
block each channel padding of a skip path becomes a 1x1 convolution that
copies its input channels and adds zero ones. The real channels compute the
same sums; only their order within the blocked kernels changes the last bits
(outputs agree within 1e-4). A CPU with 8-channel blocks gains nothing from
the 16-channel padding and pays for it (a third more channels in the
24-channel stages), so the install script writes one model per block width.

Usage: convert-blazeface.py SOURCE.onnx DEST.onnx [BLOCK]
BLOCK is 16 (the default) or 8. Needs Debian's python3-onnx.
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


BLOCKS = (16, 8)  # ONNX Runtime's channel blocks: AVX-512, AVX2


def blocked(c, block):
    return -(-c // block) * block


def pad_conv(n, inits, stored_in, pad_out, block):
    """Pads Conv n's weights (in place) to stored_in input channels and, when
    pad_out, a blocked number of output channels; returns (real, stored)
    output channels."""
    w = numpy_helper.to_array(inits[n.input[1]])
    real = w.shape[0]
    out = blocked(real, block) if pad_out else real
    group = next((a for a in n.attribute if a.name == "group"), None)
    if group is not None and group.i > 1:  # depthwise: one filter per channel
        if group.i != real or w.shape[1] != 1 or stored_in != out:
            sys.exit(f"convert-blazeface: unexpected grouped convolution {n.name}")
        group.i = out
        padded = np.zeros((out,) + w.shape[1:], dtype=np.float32)
    else:
        padded = np.zeros((out, stored_in) + w.shape[2:], dtype=np.float32)
    padded[:real, :w.shape[1]] = w
    inits[n.input[1]].CopyFrom(numpy_helper.from_array(padded, n.input[1]))
    if len(n.input) > 2:
        b = numpy_helper.to_array(inits[n.input[2]])
        inits[n.input[2]].CopyFrom(numpy_helper.from_array(np.pad(b, (0, out - real)), n.input[2]))
    return real, out


def convert(model, block):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {n.output[0]: n for n in g.node}

    dims = g.input[0].type.tensor_type.shape.dim  # NHWC
    for i, name in ((1, "height"), (2, "width")):
        dims[i].ClearField("dim_value")
        dims[i].dim_param = name
    for out in g.output:
        d = out.type.tensor_type.shape.dim[1]
        d.ClearField("dim_value")
        d.dim_param = "anchors"
    # Recorded intermediate shapes are those of 256x256; ONNX Runtime infers them again.
    del g.value_info[:]

    zeros = {n.output[0] for n in g.node if n.op_type == "ConstantOfShape"}
    heads = {n.input[0] for n in g.node if n.op_type == "Transpose" and n.input[0] != g.input[0].name}
    # channels[t] = (real, stored) channel counts of tensor t, for tensors in NCHW.
    channels = {}
    nodes = []
    for n in g.node:
        if n.op_type == "ConstantOfShape":
            continue
        if n.op_type == "Transpose":
            channels[n.output[0]] = (3, 3)
        elif n.op_type == "Conv":
            channels[n.output[0]] = pad_conv(n, inits, channels[n.input[0]][1], n.output[0] not in heads, block)
        elif n.op_type in ("Relu", "MaxPool", "Add"):
            channels[n.output[0]] = channels[n.input[0]]
        elif n.op_type == "Concat" and len(n.input) == 2 and n.input[1] in zeros:
            extra = int(numpy_helper.to_array(inits[producers[n.input[1]].input[0]])[1])
            real, stored = channels[n.input[0]]
            out = real + extra
            w = np.zeros((blocked(out, block), stored, 1, 1), dtype=np.float32)
            w[np.arange(real), np.arange(real)] = 1
            name = n.output[0].split(":")[0] + "/channel_pads"
            g.initializer.append(numpy_helper.from_array(w, name))
            nodes.append(helper.make_node("Conv", [n.input[0], name], [n.output[0]],
                                          name=name + "/Conv", kernel_shape=[1, 1]))
            channels[n.output[0]] = (out, blocked(out, block))
            continue
        elif n.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[n.input[1]])
            name = n.input[1] + "/free"
            g.initializer.append(numpy_helper.from_array(
                np.array([1, -1, shape[-1]], dtype=np.int64), name))
            n.input[1] = name
        else:
            sys.exit(f"convert-blazeface: unexpected {n.op_type} node {n.name}")
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)

    used = {i for n in g.node for i in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    block = BLOCKS[0]
    if len(sys.argv) == 4:
        if sys.argv[3] not in [str(b) for b in BLOCKS]:
            sys.exit(f"convert-blazeface: block {sys.argv[3]} is not one of {BLOCKS}")
        block = int(sys.argv[3])
    onnx.save(convert(onnx.load(sys.argv[1]), block), sys.argv[2])


if __name__ == "__main__":
    main()
