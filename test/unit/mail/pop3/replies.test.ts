/** What RFC 2449 §8 / RFC 3206 response codes mean to the client: one table for the greeting, AUTH and commands. */
import { isSessionLevelCode, meaningOf } from '../../../../nodes/mail/pop3/replies';

describe('meaningOf', () => {
	it.each([
		['SYS/PERM', 'permanent'],
		['SYS/TEMP', 'temporary'],
		['IN-USE', 'temporary'],
		['LOGIN-DELAY', 'temporary'],
		['AUTH', 'credentials'],
		// Codes are hierarchical: a refinement means what its parent means.
		['SYS/PERM/DISABLED', 'permanent'],
		['IN-USE/LOCKED', 'temporary'],
		['AUTH/EXPIRED', 'credentials'],
	])('%s → %s', (code, meaning) => {
		expect(meaningOf(code)).toBe(meaning);
		expect(isSessionLevelCode(code)).toBe(true);
	});

	it.each([undefined, '', 'SYS', 'SYS/PERMANENT', 'IN-USEFUL', 'AUTHX', 'UTF8'])('%p is no code of the session', (code) => {
		expect(meaningOf(code)).toBeUndefined();
		expect(isSessionLevelCode(code)).toBe(false);
	});
});
