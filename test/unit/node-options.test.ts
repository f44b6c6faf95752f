import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceNodeOptions } from '../helpers/ingest-server.js';

const file = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** The number a Node process started with these NODE_OPTIONS prints when it runs `script`. */
function printedWith(nodeOptions: string, script: string): number {
  return Number(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' }).trim());
}

/** Threads of a Node process started with these NODE_OPTIONS (Linux: one /proc entry per thread). */
function threadsWith(nodeOptions: string): number {
  return printedWith(nodeOptions, "setTimeout(() => console.log(require('node:fs').readdirSync('/proc/self/task').length), 100)");
}

/** The young generation's size (bytes) a Node process started with these NODE_OPTIONS grows to under allocation churn. */
function youngGenerationWith(nodeOptions: string): number {
  const script = [
    'let keep = [];',
    'for (let i = 0; i < 3e6; i++) { keep.push({ i }); if (keep.length > 2e5) keep = []; }',
    "console.log(require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);",
  ].join(' ');
  return printedWith(nodeOptions, script);
}

describe('the service Node options (scripts/node-options)', () => {
  const callers = process.env.NODE_OPTIONS;
  afterEach(() => {
    if (callers === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = callers;
  });

  it("puts the file's flags first and the caller's NODE_OPTIONS after them, so the caller's win", () => {
    const flags = file('scripts/node-options').trim();
    process.env.NODE_OPTIONS = '--v8-pool-size=3';
    expect(serviceNodeOptions()).toBe(`${flags} --v8-pool-size=3`);
    delete process.env.NODE_OPTIONS;
    expect(serviceNodeOptions()).toBe(flags);
  });

  it('starts Node with fewer V8 helper threads than its default, unless the caller asks for more', () => {
    delete process.env.NODE_OPTIONS;
    const service = threadsWith(serviceNodeOptions());
    expect(service).toBeLessThan(threadsWith(''));
    process.env.NODE_OPTIONS = '--v8-pool-size=4';
    expect(threadsWith(serviceNodeOptions())).toBe(threadsWith('--v8-pool-size=4'));
  });

  it("give the young generation more room than Node's default, unless the caller sets its own", () => {
    delete process.env.NODE_OPTIONS;
    const service = youngGenerationWith(serviceNodeOptions());
    expect(service).toBeGreaterThan(youngGenerationWith(''));
    process.env.NODE_OPTIONS = '--max-semi-space-size=8';
    expect(youngGenerationWith(serviceNodeOptions())).toBeLessThan(service);
  });

  it('are what npm start and the image run the service with (both through scripts/serve.sh)', () => {
    expect(file('scripts/serve.sh')).toContain('NODE_OPTIONS="$(cat scripts/node-options) ${NODE_OPTIONS:-}" exec node dist/src/main.js');
    expect(file('scripts/start.sh')).toMatch(/^exec sh scripts\/serve\.sh$/m);
    expect(file('Dockerfile')).toContain('CMD ["sh", "scripts/serve.sh"]');
    expect(file('Dockerfile')).toContain('COPY scripts/node-options scripts/serve.sh ./scripts/');
  });
});
