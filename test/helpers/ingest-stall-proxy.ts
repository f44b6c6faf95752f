import { connect, createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP proxy that can stall: while stalled, bytes from clients are held back, as with a hung database. */
export class StallProxy {
  private server?: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; held: Buffer[] }>();
  private stalled = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream, held: [] as Buffer[] };
      this.pairs.add(pair);
      client.on('data', (chunk: Buffer) => {
        if (!this.stalled) return void upstream.write(chunk);
        pair.held.push(chunk);
        client.pause();
      });
      upstream.pipe(client);
      for (const socket of [client, upstream]) {
        socket.on('error', () => socket.destroy());
        socket.on('close', () => {
          this.pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this.port;
  }

  /** From now on nothing more reaches the database until resume(); answers already on their way still arrive. */
  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const pair of this.pairs) {
      for (const chunk of pair.held.splice(0)) pair.upstream.write(chunk);
      pair.client.resume();
    }
  }

  async stop(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
