// onnx_eval.js — runs an ONNX model (ctrain export) with ONNX Runtime (npm's onnxruntime-node)
// on IDX images, as ctrain eval does: the pixels / 255 in batches, and prints
//   loss L acc A n N   (mean cross-entropy of "logits", accuracy of "probabilities")
//   max |softmax(logits) - probabilities| D
// Usage: NODE_PATH=DIR node onnx_eval.js MODEL.onnx IMAGES.idx LABELS.idx [N]
const fs = require("fs");
const zlib = require("zlib");
const ort = require("onnxruntime-node");

function idx(path) {
  let b = fs.readFileSync(path);
  if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
  const ndim = b[3], dims = [];
  for (let i = 0; i < ndim; i++) dims.push(b.readUInt32BE(4 + 4 * i));
  return { dims, data: b.subarray(4 + 4 * ndim) };
}

async function main() {
  const [model, imgPath, labPath, nArg] = process.argv.slice(2);
  const img = idx(imgPath), lab = idx(labPath);
  const s = await ort.InferenceSession.create(model);
  const n = Math.min(nArg ? parseInt(nArg, 10) : img.dims[0], img.dims[0]);
  const row = img.dims.slice(1).reduce((a, b) => a * b, 1);
  const chw = img.dims.length === 4 ? img.dims.slice(1) : [1, img.dims[1], img.dims[2]];
  let loss = 0, correct = 0, worst = 0;
  for (let i0 = 0; i0 < n; i0 += 256) {
    const m = Math.min(256, n - i0), x = new Float32Array(m * row);
    for (let j = 0; j < m * row; j++) x[j] = img.data[i0 * row + j] / 255;
    const out = await s.run({ input: new ort.Tensor("float32", x, [m, ...chw]) });
    const z = out.logits.data, p = out.probabilities.data, k = out.logits.dims[1];
    for (let r = 0; r < m; r++) {
      let max = -Infinity, arg = 0, sum = 0;
      for (let c = 0; c < k; c++) if (z[r * k + c] > max) (max = z[r * k + c]), (arg = c);
      for (let c = 0; c < k; c++) sum += Math.exp(z[r * k + c] - max);
      const y = lab.data[i0 + r];
      loss += Math.log(sum) + max - z[r * k + y];
      let pmax = -1, parg = 0;
      for (let c = 0; c < k; c++) {
        const q = Math.exp(z[r * k + c] - max) / sum;
        worst = Math.max(worst, Math.abs(q - p[r * k + c]));
        if (p[r * k + c] > pmax) (pmax = p[r * k + c]), (parg = c);
      }
      if (parg === y) correct++;
    }
  }
  console.log(`loss ${(loss / n).toFixed(6)} acc ${(correct / n).toFixed(6)} n ${n}`);
  console.log(`max |softmax(logits) - probabilities| ${worst.toExponential(2)}`);
}
main().catch((e) => { console.error(`onnx_eval.js: ${e.message}`); process.exit(1); });
