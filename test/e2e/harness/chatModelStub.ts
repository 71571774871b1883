/**
 * A scripted stand-in for an OpenAI-compatible chat model, on 127.0.0.1 and a free high port: n8n's "OpenAI Chat
 * Model" node (Chat Completions, not the Responses API) is pointed at it through its credential's Base URL. Each
 * POST /v1/chat/completions is recorded and answered by the test's script — a tool call or a final text — as a JSON
 * completion, or as server-sent events when the request asks for `stream: true`. GET /v1/models lists the one model.
 * Nothing here calls out; a request the script cannot answer gets a text reply saying why, so the test's
 * assertions on the recorded requests show what went wrong.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

export const STUB_MODEL = 'stub-model';

export interface ChatMessage {
	role: string;
	content?: unknown;
	tool_call_id?: string;
	tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
	[key: string]: unknown;
}

export interface ChatTool {
	type: string;
	function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export interface ChatRequest {
	model?: string;
	messages: ChatMessage[];
	tools?: ChatTool[];
	stream?: boolean;
	[key: string]: unknown;
}

export interface RecordedRequest {
	method: string;
	path: string;
	body?: ChatRequest;
	/** The Authorization header as received (the credential's API key should arrive here). */
	authorization?: string;
}

export type ChatReply =
	| { toolCalls: Array<{ name: string; arguments: Record<string, unknown> }> }
	| { text: string };

/** Decides the reply to the n-th completion request (0-based), seeing the whole conversation so far. */
export type ChatScript = (request: ChatRequest, index: number) => ChatReply;

export interface ChatModelStub {
	/** The Base URL for n8n's OpenAI credential: http://127.0.0.1:<port>/v1 */
	readonly baseUrl: string;
	/** Every request received, in order. */
	readonly requests: RecordedRequest[];
	/** Only the chat completion requests, in order. */
	completions(): ChatRequest[];
	stop(): Promise<void>;
}

/** The text of a message's content (a string, or OpenAI's array of text parts). */
export function messageText(message: ChatMessage): string {
	if (typeof message.content === 'string') return message.content;
	if (Array.isArray(message.content)) {
		return message.content
			.map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
			.join('');
	}
	return '';
}

/** The tool results the conversation holds so far (role `tool`), in order, with the name of the tool they answer. */
export function toolResults(request: ChatRequest): Array<{ toolName: string | undefined; content: string }> {
	const names = new Map<string, string>();
	for (const message of request.messages) {
		for (const call of message.tool_calls ?? []) names.set(call.id, call.function.name);
	}
	return request.messages
		.filter((message) => message.role === 'tool')
		.map((message) => ({ toolName: message.tool_call_id ? names.get(message.tool_call_id) : undefined, content: messageText(message) }));
}

function completionMessage(reply: ChatReply): { message: ChatMessage; finishReason: string } {
	if ('text' in reply) return { message: { role: 'assistant', content: reply.text }, finishReason: 'stop' };
	return {
		message: {
			role: 'assistant',
			content: null,
			tool_calls: reply.toolCalls.map((call) => ({
				id: `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`,
				type: 'function',
				function: { name: call.name, arguments: JSON.stringify(call.arguments) },
			})),
		},
		finishReason: 'tool_calls',
	};
}

const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

function answerJson(response: http.ServerResponse, reply: ChatReply): void {
	const { message, finishReason } = completionMessage(reply);
	const body = {
		id: `chatcmpl-${randomUUID()}`,
		object: 'chat.completion',
		created: Math.floor(Date.now() / 1000),
		model: STUB_MODEL,
		choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
		usage: USAGE,
	};
	response.writeHead(200, { 'content-type': 'application/json' });
	response.end(JSON.stringify(body));
}

function answerStream(response: http.ServerResponse, reply: ChatReply): void {
	const { message, finishReason } = completionMessage(reply);
	const id = `chatcmpl-${randomUUID()}`;
	const created = Math.floor(Date.now() / 1000);
	const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): string =>
		`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: STUB_MODEL, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
	response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
	response.write(chunk({ role: 'assistant', content: message.tool_calls ? null : '' }, null));
	if (message.tool_calls) {
		message.tool_calls.forEach((call, index) => {
			response.write(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments } }] }, null));
		});
	} else {
		response.write(chunk({ content: message.content }, null));
	}
	response.write(chunk({}, finishReason));
	response.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: STUB_MODEL, choices: [], usage: USAGE })}\n\n`);
	response.end('data: [DONE]\n\n');
}

export async function startChatModelStub(script: ChatScript): Promise<ChatModelStub> {
	const requests: RecordedRequest[] = [];
	const completions: ChatRequest[] = [];

	const server = http.createServer((request, response) => {
		const chunks: Buffer[] = [];
		request.on('data', (chunk: Buffer) => chunks.push(chunk));
		request.on('end', () => {
			const path = (request.url ?? '/').split('?')[0].replace(/\/+$/, '');
			const recorded: RecordedRequest = { method: request.method ?? '', path, authorization: request.headers.authorization };
			requests.push(recorded);
			try {
				if (request.method === 'GET' && path === '/v1/models') {
					response.writeHead(200, { 'content-type': 'application/json' });
					response.end(JSON.stringify({ object: 'list', data: [{ id: STUB_MODEL, object: 'model', created: 0, owned_by: 'e2e' }] }));
					return;
				}
				if (request.method !== 'POST' || path !== '/v1/chat/completions') {
					response.writeHead(404, { 'content-type': 'application/json' });
					response.end(JSON.stringify({ error: { message: `the stub serves POST /v1/chat/completions, not ${request.method} ${path}`, type: 'invalid_request_error' } }));
					return;
				}
				const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
				recorded.body = body;
				const index = completions.length;
				completions.push(body);
				let reply: ChatReply;
				try {
					reply = script(body, index);
				} catch (error) {
					reply = { text: `stub script failed at request ${index}: ${(error as Error).message}` };
				}
				if (body.stream === true) answerStream(response, reply);
				else answerJson(response, reply);
			} catch (error) {
				response.writeHead(400, { 'content-type': 'application/json' });
				response.end(JSON.stringify({ error: { message: (error as Error).message, type: 'invalid_request_error' } }));
			}
		});
	});
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve());
	});
	const { port } = server.address() as AddressInfo;
	return {
		baseUrl: `http://127.0.0.1:${port}/v1`,
		requests,
		completions: () => [...completions],
		stop: async () => {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}
