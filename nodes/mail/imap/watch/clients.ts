/** Every IMAP client the watcher created and that is not known to be closed; all are destroyed at stop. */
import type { ImapClient } from '../client';
import { onAbort } from './abort';

export class ClientTracker {
	private readonly clients = new Set<ImapClient>();

	constructor(private readonly signal: AbortSignal) {
		onAbort(signal, () => {
			this.clients.forEach((client) => safeClose(client));
			this.clients.clear();
		});
	}

	track(client: ImapClient): void {
		if (this.signal.aborted) {
			safeClose(client);
			return;
		}
		this.clients.add(client);
		client.on('close', () => this.clients.delete(client));
	}

	/** Open clients right now (tests assert that nothing leaks). */
	get openCount(): number {
		return [...this.clients].filter((client) => client.usable).length;
	}
}

function safeClose(client: ImapClient): void {
	try {
		client.close();
	} catch {
		// already closed
	}
}
