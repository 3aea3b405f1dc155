#!/usr/bin/python3
"""Give MediaPipe's BlazeFace "back" ONNX graph a free input height and width.

The published graph is fully convolutional but pinned to 256x256: two channel
paddings are written as a concatenation with zero tensors of fixed shape, and
the four output reshapes name their anchor counts. Replacing those with a Pad
node and -1 reshapes lets ONNX Runtime run the network over a whole pyramid
level at once (any height and width divisible by 32), so no face is cut by a
tile edge and no overlap is computed twice. Weights and every other node are
left exactly as they are.

Usage: convert-blazeface.py SOURCE.onnx DEST.onnx  (needs Debian's python3-onnx)
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def convert(model):
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
    nodes = []
    for n in g.node:
        if n.op_type == "ConstantOfShape":
            continue
        if n.op_type == "Concat" and len(n.input) == 2 and n.input[1] in zeros:
            shape = numpy_helper.to_array(inits[producers[n.input[1]].input[0]])
            pads = n.output[0].split(":")[0] + "/channel_pads"
            g.initializer.append(numpy_helper.from_array(
                np.array([0, 0, 0, 0, 0, shape[1], 0, 0], dtype=np.int64), pads))
            nodes.append(helper.make_node("Pad", [n.input[0], pads], [n.output[0]],
                                          name=pads + "/Pad", mode="constant"))
            continue
        if n.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[n.input[1]])
            name = n.input[1] + "/free"
            g.initializer.append(numpy_helper.from_array(
                np.array([1, -1, shape[-1]], dtype=np.int64), name))
            n.input[1] = name
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
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    onnx.save(convert(onnx.load(sys.argv[1])), sys.argv[2])


if __name__ == "__main__":
    main()
