/**
 * Parse limits for one message, chosen to pass any real mail (Gmail takes 25 MB messages with long Received chains
 * and large DKIM/ARC headers) while keeping time and memory bounded for hostile mail. A message over a limit becomes
 * an item with `error` (MessageContentError), never a stuck trigger. The README lists them; docs/ explains the choice.
 */
export const MESSAGE_LIMITS = {
	/** MIME parts at every level together; real mail rarely has 100. */
	maxParts: 1_000,
	/** Nesting of multiparts and attached messages; real mail stays under 10. */
	maxDepth: 50,
	/** One part's header block, every header line counted whole (so also the longest header line); real blocks stay under 64 KiB. */
	maxHeaderBytes: 256 * 1024,
	/** One text/plain or text/html body part as sent (before decoding); the body is held in memory and put in the item. */
	maxBodyTextBytes: 16 * 1024 * 1024,
} as const;

export type MessageLimits = { [K in keyof typeof MESSAGE_LIMITS]: number };

/** A size in the units the limits above are stated in (KiB, MiB), for error texts. */
export function formatBytes(bytes: number): string {
	if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
	if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
	return `${bytes} bytes`;
}
