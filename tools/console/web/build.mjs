// Builds the office console's pages: copies src/ and uPlot's dist files (vendor/) into
// OUTDIR, the directory the console serves as web_dir. No bundler: the pages are plain
// ES modules. Usage: node build.mjs OUTDIR

import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out || process.argv.length > 3) {
  console.error('usage: node build.mjs OUTDIR');
  process.exit(2);
}
const outDir = resolve(out);
const src = join(here, 'src');
const uplot = join(here, 'node_modules', 'uplot', 'dist');
const vendorFiles = ['uPlot.iife.min.js', 'uPlot.min.css'];

if (!existsSync(join(here, 'node_modules'))) {
  console.error(`build.mjs: ${join(here, 'node_modules')} is missing: run "npm ci --no-audit --no-fund" in ${here} first`);
  process.exit(1);
}
for (const f of vendorFiles) {
  if (!existsSync(join(uplot, f))) {
    console.error(`build.mjs: ${join(uplot, f)} is missing: node_modules is incomplete; run "npm ci --no-audit --no-fund" in ${here}`);
    process.exit(1);
  }
}
for (const f of ['index.html', 'app.js', 'app.css']) {
  if (!existsSync(join(src, f))) {
    console.error(`build.mjs: ${join(src, f)} is missing`);
    process.exit(1);
  }
}

// A clean copy: files removed from src/ do not linger in the served directory.
if (existsSync(outDir)) {
  for (const e of readdirSync(outDir)) rmSync(join(outDir, e), { recursive: true, force: true });
}
mkdirSync(join(outDir, 'vendor'), { recursive: true });
for (const e of readdirSync(src)) {
  if (e.startsWith('.')) continue;
  cpSync(join(src, e), join(outDir, e), { recursive: statSync(join(src, e)).isDirectory() });
}
for (const f of vendorFiles) cpSync(join(uplot, f), join(outDir, 'vendor', f));
console.log(`build.mjs: console pages written to ${outDir}`);
