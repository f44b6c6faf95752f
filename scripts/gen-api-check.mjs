// Fails when src/generated/api.ts differs from what openapi-typescript makes of openapi/otaguard.yaml.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'otaguard-gen-'));
const fresh = join(dir, 'api.ts');
try {
  execFileSync('npx', ['openapi-typescript', 'openapi/otaguard.yaml', '-o', fresh], { stdio: 'pipe' });
  const committed = readFileSync('src/generated/api.ts', 'utf8');
  if (readFileSync(fresh, 'utf8') !== committed) {
    console.error('src/generated/api.ts is out of date with openapi/otaguard.yaml: run `npm run gen:api` and commit.');
    process.exit(1);
  }
  console.log('src/generated/api.ts matches openapi/otaguard.yaml');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
