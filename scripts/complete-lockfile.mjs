// Completes package-lock.json with the other platforms' optional prebuilt packages of
// @swc/core and cbor-extract. The npm registry mirror of our machines lacks some of them (404),
// so `npm install` here leaves them out of the lockfile, and `npm ci` then refuses the
// lockfile ("Missing: @swc/core-darwin-arm64@ from lock file"). The entries it adds carry their
// os/cpu, so npm skips them on other platforms and tries (optionally) only the matching one.
// Run it after any `npm install` that rewrites the lockfile: `node scripts/complete-lockfile.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
const path = process.argv[2] ?? new URL("../package-lock.json", import.meta.url).pathname;
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pk = lock.packages;
const platform = (name) => {
  const n = name.split('/').pop();
  const os = n.includes('darwin') ? 'darwin' : n.includes('win32') ? 'win32' : 'linux';
  const cpu = /arm64/.test(n) ? 'arm64' : /ia32/.test(n) ? 'ia32' : /ppc64/.test(n) ? 'ppc64' : /s390x/.test(n) ? 's390x' : /-arm(-|$)/.test(n) ? 'arm' : 'x64';
  const libc = /musl/.test(n) ? 'musl' : /gnu/.test(n) ? 'glibc' : undefined;
  return { os, cpu, libc };
};
let added = 0;
for (const entry of Object.values(pk)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${dep}`;
    if (pk[target] !== undefined || dep === 'fsevents') continue;
    if (!/^@(swc\/core-|cbor-extract\/)/.test(dep)) continue;
    const { os, cpu, libc } = platform(dep);
    pk[target] = { version, cpu: [cpu], ...(entry.dev ? { dev: true } : {}), ...(libc ? { libc: [libc] } : {}), optional: true, os: [os] };
    added++;
  }
}
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log('added', added);
