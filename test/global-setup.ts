import { execFileSync } from 'node:child_process';

/** Installs (first run) and starts FerretDB and Redis unless something already listens on their ports. */
export default function setup(): void {
  execFileSync('bash', ['scripts/services.sh', 'up'], { stdio: 'inherit' });
}
