import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a Redis server that can make the invalidation bus's connections go
 * silent: with `dark` on, the bytes of every connection that sent a SUBSCRIBE are dropped, both
 * ways, while the connection stays open — what a network that stops carrying packets looks like
 * (no FIN, no RST; only a heartbeat can tell). Other connections (the Redis store's) go through.
 */
export class BlackholeProxy {
  /** Drop the bus connections' bytes. */
  dark = false;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(target: { host: string; port: number }): Promise<BlackholeProxy> {
    let proxy: BlackholeProxy | undefined;
    const server = createServer((client) => proxy!.carry(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new BlackholeProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private carry(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    let bus = false;
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (data: Buffer) => {
      if (!bus && data.toString('latin1').toLowerCase().includes('subscribe')) bus = true;
      if (!(bus && this.dark)) upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      if (!(bus && this.dark)) client.write(data);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}
