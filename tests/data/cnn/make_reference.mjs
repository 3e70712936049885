// Reference outputs of face-api.js's ssd_mobilenetv1 face detector, for faceapp's cnn detector tests.
//
//   node make_reference.mjs <node_modules dir> <dump_rgb binary> <faces dir> <out dir>
//
// See README.md in this folder for how to install the packages and build dump_rgb. Each photo is decoded by
// dump_rgb (OpenCV, as faceapp's `read` decodes it) and handed to face-api.js as an int32 tensor, so both sides
// see identical pixels. face-api.js then pads to a square (bottom/right), resizes to 512x512 with
// tf.image.resizeBilinear (alignCorners false, halfPixelCenters false), scales to [-1, 1] and runs the network on
// TensorFlow.js's CPU backend (the pure JavaScript kernels, accumulating in double).
import { createRequire } from 'module';
import { execFileSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import os from 'os';

const [modulesDir, dumpRgb, facesDir, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node make_reference.mjs <node_modules dir> <dump_rgb binary> <faces dir> <out dir>');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modulesDir), 'x.js'));
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

// Photos whose detections are stored; the first ones also get the raw network output (all 5118 anchors).
const photos = ['obama_1.jpg', 'group_3.jpg', 'alex_lacamoire_3.jpg', 'group_7.jpg', 'group_1.jpg', 'tom_cruise_1.jpg'];
const rawPhotos = new Set(['obama_1.jpg', 'group_7.jpg']);

function readRgb(file) {
  const tmp = path.join(os.tmpdir(), `faceapp-ref-${process.pid}.rgb`);
  execFileSync(dumpRgb, [file, tmp]);
  const bytes = fs.readFileSync(tmp);
  fs.unlinkSync(tmp);
  const nl = bytes.indexOf(10);
  const [width, height] = bytes.subarray(0, nl).toString().split(' ').map(Number);
  const pixels = bytes.subarray(nl + 1);
  if (pixels.length !== width * height * 3) throw new Error(`${file}: ${pixels.length} bytes for ${width}x${height}`);
  return { width, height, tensor: tf.tensor3d(Int32Array.from(pixels), [height, width, 3], 'int32') };
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  if (tf.getBackend() !== 'cpu') throw new Error(`backend is ${tf.getBackend()}, expected cpu`);
  const modelDir = path.join(path.resolve(modulesDir), '@vladmandic/face-api/model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });

  const lines = ['file,width,height,index,score,left,top,right,bottom'];
  for (const photo of photos) {
    const { width, height, tensor } = readRgb(path.join(facesDir, photo));
    const found = await faceapi.nets.ssdMobilenetv1.locateFaces(tensor, options);
    found.forEach((d, i) => {
      const b = d.box;
      lines.push([photo, width, height, i, d.score, b.x, b.y, b.x + b.width, b.y + b.height]
        .map((v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(9) : v)).join(','));
    });
    if (rawPhotos.has(photo)) {
      // outputLayer's result: per anchor the decoded box [ymin, xmin, ymax, xmax] (relative to the padded
      // square, before clipping) and the sigmoid face score; stored as float32 rows (score, ymin, xmin, ymax, xmax).
      const netInput = await faceapi.toNetInput(tensor);
      const { boxes, scores } = faceapi.nets.ssdMobilenetv1.forwardInput(netInput);
      const b = boxes[0].dataSync();
      const s = scores[0].dataSync();
      const rows = new Float32Array(s.length * 5);
      for (let i = 0; i < s.length; ++i) {
        rows[i * 5] = s[i];
        for (let k = 0; k < 4; ++k) rows[i * 5 + 1 + k] = b[i * 4 + k];
      }
      fs.writeFileSync(path.join(outDir, `${path.parse(photo).name}.ssd_raw.f32`), Buffer.from(rows.buffer));
      boxes.forEach((t) => t.dispose());
      scores.forEach((t) => t.dispose());
    }
    tensor.dispose();
    console.log(`${photo}: ${found.length} faces`);
  }
  fs.writeFileSync(path.join(outDir, 'ssd_mobilenetv1.csv'), `${lines.join('\n')}\n`);
}

main().catch((e) => { console.error(e); process.exit(1); });
