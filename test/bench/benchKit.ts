/** What every benchmark script needs: command-line options, a pause, and the statistics it prints. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A numeric command-line option (`--name 10`); a value that is not a number ≥ 0 is refused. */
export function option(name: string, fallback: number): number {
	const index = process.argv.indexOf(name);
	if (index === -1) return fallback;
	const value = Number(process.argv[index + 1]);
	if (!Number.isFinite(value) || value < 0) throw new Error(`${name} needs a number ≥ 0`);
	return value;
}

export function flag(name: string): boolean {
	return process.argv.includes(name);
}

export function percentile(values: number[], p: number): number {
	if (values.length === 0) return NaN;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The median; of an even count, the mean of the two middle values. */
export function median(values: number[]): number {
	if (values.length === 0) return NaN;
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
