/** The watcher's log lines, each starting with the node's name given by the caller. */
import type { TriggerLogger } from '../logger';

export interface WatcherLog {
	debug(text: string, meta?: Record<string, unknown>): void;
	info(text: string, meta?: Record<string, unknown>): void;
	warn(text: string, meta?: Record<string, unknown>): void;
	/** The line written when the trigger stops for good: "<name> stopped: <message>". */
	stopped(message: string): void;
}

export function watcherLog(logger: TriggerLogger, name: string): WatcherLog {
	const line = (level: 'debug' | 'info' | 'warn') => (text: string, meta?: Record<string, unknown>) =>
		meta === undefined ? logger[level](`${name}: ${text}`) : logger[level](`${name}: ${text}`, meta);
	return {
		debug: line('debug'),
		info: line('info'),
		warn: line('warn'),
		stopped: (message) => logger.error(`${name} stopped: ${message}`),
	};
}
