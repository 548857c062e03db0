// face-api's own networks (npm @vladmandic/face-api, TF.js CPU backend) on images read from stdin: the
// reference that rekog_compat's numpy ports are checked against (tests/engine/test_face_api_ports.py).
// argv[2]: 'expressions' | 'ssd'; argv[3]: the model directory.
// Input: JSON [{h, w, data: [r, g, b, ...]}].
// Output: expressions: [[neutral, happy, sad, angry, fearful, disgusted, surprised], ...];
//         ssd: [[[score, left, top, width, height], ...], ...] (face-api's locateFaces, minConfidence 0.5).
const fs = require('fs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const tf = faceapi.tf;
const NETS = {
  expressions: [faceapi.nets.faceExpressionNet, 'face_expression_model'],
  ssd: [faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model'],
};

async function main() {
  await tf.setBackend('cpu');
  const [mode, dir] = process.argv.slice(2);
  const [net, stem] = NETS[mode];
  const manifest = JSON.parse(fs.readFileSync(`${dir}/${stem}-weights_manifest.json`));
  const bin = fs.readFileSync(`${dir}/${stem}.bin`);
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  net.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));
  const out = [];
  for (const item of JSON.parse(fs.readFileSync(0))) {
    const image = tf.tensor3d(Float32Array.from(item.data), [item.h, item.w, 3]);
    if (mode === 'expressions') {
      const e = await net.predictExpressions(image);
      out.push([e.neutral, e.happy, e.sad, e.angry, e.fearful, e.disgusted, e.surprised]);
    } else {
      const faces = await net.locateFaces(image, { minConfidence: 0.5 });
      out.push(faces.map((f) => [f.score, f.box.x, f.box.y, f.box.width, f.box.height]));
    }
    image.dispose();
  }
  process.stdout.write(JSON.stringify(out));
}

main();
