/** Command-line helpers shared by the harness CLI and the demo scripts. */

/** The value after `name` in `args` (`--port 5678`), undefined when `name` is absent; throws when it has no value. */
export function optionValue(args: string[], name: string): string | undefined {
	const index = args.indexOf(name);
	if (index === -1) return undefined;
	const value = args[index + 1];
	if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
	return value;
}
