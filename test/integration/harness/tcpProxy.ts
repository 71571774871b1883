/**
 * A TCP relay on 127.0.0.1 between a client under test and a stack server. It passes bytes through untouched (TLS
 * stays end to end), counts the connections it accepted, and can cut every open connection at once — the way a
 * provider drops a long-lived connection — without touching the server's processes.
 */
import * as net from 'node:net';

export class TcpProxy {
	/** Connections accepted since start. */
	connectionsAccepted = 0;
	private readonly open = new Set<{ client: net.Socket; upstream: net.Socket }>();

	private constructor(
		private readonly server: net.Server,
		readonly port: number,
	) {}

	static async start(target: { host: string; port: number }): Promise<TcpProxy> {
		const holder: { proxy?: TcpProxy } = {};
		const server = net.createServer((client) => {
			const owner = holder.proxy;
			if (!owner) {
				client.destroy();
				return;
			}
			owner.connectionsAccepted++;
			const upstream = net.connect({ host: target.host, port: target.port });
			const pair = { client, upstream };
			owner.open.add(pair);
			const end = () => {
				owner.open.delete(pair);
				client.destroy();
				upstream.destroy();
			};
			client.on('error', end).on('close', end);
			upstream.on('error', end).on('close', end);
			client.pipe(upstream);
			upstream.pipe(client);
		});
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
		});
		const address = server.address();
		if (!address || typeof address === 'string') throw new Error('proxy has no port');
		holder.proxy = new TcpProxy(server, address.port);
		return holder.proxy;
	}

	/** Connections open right now. */
	get openConnections(): number {
		return this.open.size;
	}

	/** Cuts every open connection (both sides), as a dropped network path or a server-side timeout would. */
	dropAll(): number {
		const count = this.open.size;
		for (const { client, upstream } of [...this.open]) {
			client.destroy();
			upstream.destroy();
		}
		this.open.clear();
		return count;
	}

	async close(): Promise<void> {
		this.dropAll();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}
}
