import type { IDataObject } from 'n8n-workflow';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Turns caller-supplied values (imapflow hands out flags as a Set and modseq as a bigint) and parser output
 * (Dates) into plain JSON, so an item looks the same before and after n8n stores it. `undefined` members are
 * dropped, as JSON.stringify would drop them.
 */
export function toJsonValue(value: unknown): JsonValue | undefined {
	if (value === null) return null;
	switch (typeof value) {
		case 'string':
		case 'boolean':
			return value;
		case 'number':
			return Number.isFinite(value) ? value : null;
		case 'bigint':
			return value.toString();
		case 'undefined':
		case 'function':
		case 'symbol':
			return undefined;
	}
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
	if (Buffer.isBuffer(value)) return value.toString('base64');
	if (value instanceof Set) return toJsonArray([...value]);
	if (Array.isArray(value)) return toJsonArray(value);
	if (value instanceof Map) return toJsonObject(Object.fromEntries(value));
	if (value instanceof Error) return value.message;
	return toJsonObject(value as Record<string, unknown>);
}

function toJsonArray(values: unknown[]): JsonValue[] {
	return values.map((entry) => toJsonValue(entry) ?? null);
}

export function toJsonObject(record: Record<string, unknown>): IDataObject & { [key: string]: JsonValue } {
	const result: { [key: string]: JsonValue } = {};
	for (const [key, entry] of Object.entries(record)) {
		const converted = toJsonValue(entry);
		if (converted !== undefined) setOwn(result, key, converted);
	}
	return result;
}

/**
 * Assigns even a key like "__proto__" (a header name is sender-controlled) as a plain own property. On the plain
 * objects used here, "__proto__" is the one key where assigning differs from defining (it is an accessor inherited
 * from Object.prototype); every other key is assigned, which is much cheaper than defineProperty.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
	if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
	else target[key] = value;
}
