/**
 * Driving n8n 2.41's editor UI in Chromium the way a person does: sign in, open a credential or a workflow, open a
 * node's parameter panel, take a picture. Selectors are n8n's own `data-test-id` attributes (what n8n's Playwright
 * suite uses), not CSS classes or texts that change with every release.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Locator, Page } from 'playwright-core';

import type { N8nInstance } from '../harness';

const byTestId = (page: Page | Locator, id: string): Locator => page.locator(`[data-test-id="${id}"]`);

/** Signs in through the editor's sign-in form as the instance's owner; resolves once the editor has left /signin. */
export async function signIn(page: Page, n8n: N8nInstance): Promise<void> {
	await page.goto(`${n8n.baseUrl}/signin`);
	await page.locator('input[name="emailOrLdapLoginId"]').fill(n8n.owner.email);
	await page.locator('input[name="password"]').fill(n8n.owner.password);
	await byTestId(page, 'form-submit-button').click();
	await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 30_000 });
}

/** Opens a credential's edit dialog (the URL the credentials list links to); resolves when the dialog is shown. */
export async function openCredential(page: Page, n8n: N8nInstance, credentialId: string): Promise<Locator> {
	await page.goto(`${n8n.baseUrl}/home/credentials/${credentialId}`);
	const dialog = byTestId(page, 'editCredential-modal');
	await dialog.waitFor({ state: 'visible', timeout: 30_000 });
	await byTestId(dialog, 'credential-connection-parameter').first().waitFor({ state: 'visible' });
	return dialog;
}

/** The text input of a credential or node parameter, by parameter name. */
export function parameterInput(scope: Page | Locator, parameterName: string): Locator {
	return byTestId(scope, `parameter-input-${parameterName}`).locator('input, textarea').first();
}

export function testId(scope: Page | Locator, id: string): Locator {
	return byTestId(scope, id);
}

/** Opens a workflow in the canvas with every node drawn and n8n's first-visit hints closed. */
export async function openWorkflow(page: Page, n8n: N8nInstance, workflowId: string, nodeCount: number): Promise<void> {
	await page.goto(`${n8n.baseUrl}/workflow/${workflowId}`);
	await byTestId(page, 'canvas-node').nth(nodeCount - 1).waitFor({ state: 'visible', timeout: 30_000 });
	// The "Production Checklist" card n8n shows on active workflows would cover part of the canvas.
	const checklistClose = byTestId(page, 'suggested-actions-close');
	if (await checklistClose.isVisible()) await checklistClose.click();
	await byTestId(page, 'zoom-to-fit').click();
}

/** Opens a node's parameter panel (NDV) by double-clicking it on the canvas. */
export async function openNode(page: Page, nodeName: string): Promise<Locator> {
	await byTestId(page, 'canvas-node').filter({ hasText: nodeName }).first().dblclick();
	const panel = byTestId(page, 'ndv');
	await panel.waitFor({ state: 'visible', timeout: 15_000 });
	await byTestId(panel, 'node-parameters').waitFor({ state: 'visible' });
	return panel;
}

export async function closeNode(page: Page): Promise<void> {
	await byTestId(page, 'ndv-close-button').click();
	await byTestId(page, 'ndv').waitFor({ state: 'hidden', timeout: 15_000 });
}

/**
 * A PNG of the whole viewport into `directory`. Pointer and animations settle first: element-plus fades panels in,
 * and a picture taken mid-fade is half transparent.
 */
export async function screenshot(page: Page, directory: string, name: string): Promise<string> {
	// Park the pointer in the bottom-right corner (the top-left one hovers the sidebar and shows a tooltip).
	const viewport = page.viewportSize() ?? { width: 1280, height: 800 };
	await page.mouse.move(viewport.width - 5, viewport.height - 5);
	await page.waitForTimeout(600);
	const file = path.join(directory, `${name}.png`);
	fs.mkdirSync(directory, { recursive: true });
	await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
	return file;
}

/** Width and height from a PNG's IHDR chunk; throws when the file is not a PNG. */
export function pngSize(file: string): { width: number; height: number; bytes: number } {
	const data = fs.readFileSync(file);
	const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
	if (data.length < 24 || !data.subarray(0, 8).equals(signature) || data.toString('ascii', 12, 16) !== 'IHDR') {
		throw new Error(`${file} is not a PNG`);
	}
	return { width: data.readUInt32BE(16), height: data.readUInt32BE(20), bytes: data.length };
}
