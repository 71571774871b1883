/** A small seeded PRNG (mulberry32) so every fuzz case can be replayed from its seed. */
export function seededRandom(seed: number): (below: number) => number {
	let state = seed >>> 0;
	return (below: number) => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
		return Math.floor(unit * below);
	};
}

/** Cuts `bytes` at random offsets (some pieces empty-free, some single bytes). */
export function randomSplit(bytes: Buffer, random: (below: number) => number): Buffer[] {
	const pieces: Buffer[] = [];
	let start = 0;
	while (start < bytes.length) {
		const size = 1 + random(random(4) === 0 ? 3 : 40);
		pieces.push(bytes.subarray(start, start + size));
		start += size;
	}
	return pieces;
}
