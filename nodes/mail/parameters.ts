/**
 * Range checks for the numbers users type into the nodes. A value outside its range is refused with a message naming
 * the field and the range (the node turns it into an n8n error) instead of being clamped silently.
 */

export class ParameterRangeError extends Error {
	readonly transient = false;
	/** The range that was broken, when the value came from boundedNumber(). */
	readonly range?: NumberRange;

	constructor(message: string, range?: NumberRange) {
		super(message);
		this.name = 'ParameterRangeError';
		this.range = range;
	}
}

export interface NumberRange {
	/** The field as the user sees it, e.g. `Max Message Size (MB)`. */
	label: string;
	min: number;
	max: number;
	/** Used when the field is empty (undefined, null or ''). */
	fallback: number;
	integer?: boolean;
}

export function boundedNumber(value: unknown, range: NumberRange): number {
	if (value === undefined || value === null || value === '') return range.fallback;
	const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
	const kind = range.integer ? 'a whole number' : 'a number';
	if (!Number.isFinite(number) || (range.integer && !Number.isInteger(number))) {
		throw new ParameterRangeError(`"${range.label}" must be ${kind} from ${range.min} to ${range.max}, not "${String(value)}"`, range);
	}
	if (number < range.min || number > range.max) {
		throw new ParameterRangeError(`"${range.label}" must be from ${range.min} to ${range.max}; ${number} is outside that range`, range);
	}
	return number;
}
