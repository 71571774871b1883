/**
 * Port choice for a stack instance. Several stacks (other test runs on the same machine) must coexist, so each
 * instance takes its own ports, either from a fixed base (the demo, so URLs stay the same across restarts) or at random.
 */
import * as net from 'node:net';

export const PORT_NAMES = ['imap', 'imaps', 'pop3', 'pop3s', 'lmtp', 'smtp', 'submission', 'smtps', 'oauth'] as const;
export type PortName = (typeof PORT_NAMES)[number];
export type StackPorts = Record<PortName, number>;

/**
 * Random ports are drawn below Linux's ephemeral range (32768-60999 by default): a port picked there could be taken
 * by any outgoing connection between our check and the server's bind.
 */
const RANDOM_LOW = 20000;
const RANDOM_HIGH = 32000;

function listenOn(port: number): Promise<net.Server | undefined> {
	return new Promise((resolve) => {
		const server = net.createServer();
		server.once('error', () => resolve(undefined));
		server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
	});
}

function closeAll(servers: net.Server[]): Promise<void> {
	return Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined);
}

/** Ports base, base+1, ... in PORT_NAMES order; fails naming the first port that is taken. */
export async function portsFromBase(base: number): Promise<StackPorts> {
	const held: net.Server[] = [];
	try {
		const ports = {} as StackPorts;
		for (const [index, name] of PORT_NAMES.entries()) {
			const port = base + index;
			const server = await listenOn(port);
			if (!server) throw new Error(`port ${port} (${name}) on 127.0.0.1 is already in use`);
			held.push(server);
			ports[name] = port;
		}
		return ports;
	} finally {
		await closeAll(held);
	}
}

/** A free port per service, each verified by binding it; all are held until every one is chosen so none repeats. */
export async function randomFreePorts(): Promise<StackPorts> {
	const held: net.Server[] = [];
	try {
		const ports = {} as StackPorts;
		for (const name of PORT_NAMES) {
			for (let attempt = 0; ; attempt += 1) {
				if (attempt > 200) throw new Error('could not find free ports on 127.0.0.1');
				const candidate = RANDOM_LOW + Math.floor(Math.random() * (RANDOM_HIGH - RANDOM_LOW));
				const server = await listenOn(candidate);
				if (!server) continue;
				held.push(server);
				ports[name] = candidate;
				break;
			}
		}
		return ports;
	} finally {
		await closeAll(held);
	}
}
