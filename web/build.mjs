// Builds the console into dist/: index.html, assets/console.js, assets/console.css,
// assets/favicon.svg. Deterministic: the same sources and package-lock.json give the same bytes
// (no timestamps, no absolute paths, no source maps); index.html names each asset with a hash of
// its content so that the server can let browsers cache assets for good. The script and the
// stylesheet also get a `.gz` twin (fflate, pure JavaScript pinned by package-lock.json, so the
// bytes do not depend on the zlib of the machine) that the server sends to browsers taking gzip.
import { build } from "esbuild";
import { gzipSync } from "fflate";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile, access } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, "dist");
const sdk = path.resolve(root, "../clients/js/src/index.ts");
const languages = path.resolve(root, "../languages");

/** `runnel:examples`: each language folder's `example.<ext>` (languages/<id>/), by id, sorted. */
const examples = {
  name: "runnel-examples",
  setup(build) {
    build.onResolve({ filter: /^runnel:examples$/ }, () => ({ path: "examples", namespace: "runnel" }));
    build.onLoad({ filter: /.*/, namespace: "runnel" }, async () => {
      const byId = {};
      const folders = (await readdir(languages, { withFileTypes: true }))
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort();
      for (const id of folders) {
        const found = (await readdir(path.join(languages, id))).filter((name) => name.startsWith("example."));
        if (found.length !== 1) {
          throw new Error(`build: languages/${id}/ needs exactly one example.<ext>, found ${found.length}`);
        }
        byId[id] = await readFile(path.join(languages, id, found[0]), "utf8");
      }
      return { contents: `export default ${JSON.stringify(byId)};`, loader: "js" };
    });
  },
};

try {
  await access(sdk);
} catch {
  console.error(`build: the JavaScript SDK is missing at ${path.relative(root, sdk)} (clients/js/src/index.ts)`);
  process.exit(1);
}

const result = await build({
  absWorkingDir: root,
  entryPoints: { console: "src/main.ts" },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  alias: { "@runnel/client": sdk },
  outdir: "dist/assets",
  write: false,
  logLevel: "warning",
  metafile: false,
  plugins: [examples],
});

const files = new Map();
for (const file of result.outputFiles) {
  files.set(path.basename(file.path), file.contents);
}
const js = files.get("console.js");
const css = files.get("console.css");
if (!js || !css) throw new Error(`build: expected console.js and console.css, got ${[...files.keys()].join(", ")}`);

const hash = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 16);
const template = await readFile(path.join(root, "src/index.html"), "utf8");
const html = template.replace("__JS_HASH__", hash(js)).replace("__CSS_HASH__", hash(css));
const favicon = await readFile(path.join(root, "src/favicon.svg"));

await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, "assets"), { recursive: true });
await writeFile(path.join(dist, "index.html"), html);
await writeFile(path.join(dist, "assets/console.js"), js);
await writeFile(path.join(dist, "assets/console.css"), css);
await writeFile(path.join(dist, "assets/favicon.svg"), favicon);
// mtime 0 and no file name in the header: the same input always gives the same bytes.
const gzip = (bytes) => gzipSync(bytes, { level: 9, mem: 12, mtime: 0 });
await writeFile(path.join(dist, "assets/console.js.gz"), gzip(js));
await writeFile(path.join(dist, "assets/console.css.gz"), gzip(css));

for (const name of ["index.html", "assets/console.js", "assets/console.js.gz", "assets/console.css", "assets/console.css.gz", "assets/favicon.svg"]) {
  const bytes = await readFile(path.join(dist, name));
  console.log(`dist/${name.padEnd(22)} ${String(bytes.length).padStart(8)} B`);
}
