/**
 * The README's quickstart, run as written: the package is installed into a fresh project with
 * `npm install /path/to/clients/js` (as a user would), the quickstart block is saved as
 * `quickstart.mjs`, and its output is compared with the one the README shows.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { type Server, startServer } from "./harness.js";

const run = promisify(execFile);
const packageDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
let server: Server;
let project: string;

before(async () => {
  server = await startServer();
  project = mkdtempSync(path.join(tmpdir(), "runnel-js-readme-"));
});

after(async () => {
  rmSync(project, { recursive: true, force: true });
  await server?.stop();
});

/** The first fenced block of `language` after `heading`. */
function block(readme: string, heading: string, language: string): string {
  const section = readme.slice(readme.indexOf(heading));
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section);
  assert.ok(match?.[1], `README has a ${language} block under ${heading}`);
  return match[1];
}

test("the README quickstart runs as written against runnel serve", async () => {
  const readme = readFileSync(path.join(packageDir, "README.md"), "utf8");
  const code = block(readme, "## Quickstart", "js");
  const expected = block(readme, "It prints:", "text");
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "quickstart", private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", packageDir], { cwd: project, timeout: 120_000 });
  writeFileSync(path.join(project, "quickstart.mjs"), code);
  const { stdout } = await run(process.execPath, ["quickstart.mjs"], {
    cwd: project,
    env: { ...process.env, RUNNEL_URL: server.url, RUNNEL_API_KEY: server.key },
    timeout: 60_000,
  });
  const lines = stdout.trimEnd().split("\n");
  const patterns = expected.trimEnd().split("\n");
  assert.equal(lines.length, patterns.length, `output:\n${stdout}`);
  patterns.forEach((pattern, index) => {
    const regex = new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\\.\\\.\\\./g, "[0-9.]+")}$`);
    assert.match(lines[index] as string, regex, `line ${index + 1} of:\n${stdout}`);
  });
});
