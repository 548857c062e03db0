// face-api's own FaceExpressionNet (npm @vladmandic/face-api, TF.js CPU backend) on crops read from stdin:
// the reference that rekog_compat/engine/expressions.py's numpy port is checked against
// (tests/engine/test_expressions.py). Input: JSON [{h, w, data: [r, g, b, ...]}]; argv[2]: the model directory.
// Output: JSON [[neutral, happy, sad, angry, fearful, disgusted, surprised], ...].
const fs = require('fs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const tf = faceapi.tf;

async function main() {
  await tf.setBackend('cpu');
  const dir = process.argv[2];
  const manifest = JSON.parse(fs.readFileSync(`${dir}/face_expression_model-weights_manifest.json`));
  const bin = fs.readFileSync(`${dir}/face_expression_model.bin`);
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  faceapi.nets.faceExpressionNet.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));
  const out = [];
  for (const crop of JSON.parse(fs.readFileSync(0))) {
    const image = tf.tensor3d(Float32Array.from(crop.data), [crop.h, crop.w, 3]);
    const e = await faceapi.nets.faceExpressionNet.predictExpressions(image);
    out.push([e.neutral, e.happy, e.sad, e.angry, e.fearful, e.disgusted, e.surprised]);
    image.dispose();
  }
  process.stdout.write(JSON.stringify(out));
}

main();
