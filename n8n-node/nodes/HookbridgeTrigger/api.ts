// The Hookbridge API calls the trigger makes with the hookbridgeApi
// credential: the live event catalog (GET /v1/event-types) turned into the
// editor's options, and the REST hook subscription (/v1/hooks, /v1/webhooks).
import type {
	IDataObject,
	IHookFunctions,
	JsonObject,
	ILoadOptionsFunctions,
	IN8nHttpFullResponse,
	IHttpRequestMethods,
	INodePropertyOptions,
} from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

import { BUILT_IN_EVENT_TYPES } from './catalog';

export const ANY_EVENT = '*';

export interface CatalogEventType {
	type: string;
	description?: string;
	schema?: {
		title?: string;
		description?: string;
		properties?: Record<string, { title?: string; description?: string; enum?: unknown[] }>;
	};
}

type Context = IHookFunctions | ILoadOptionsFunctions;

export async function hookbridgeRequest(
	this: Context,
	method: IHttpRequestMethods,
	path: string,
	body?: IDataObject,
): Promise<IN8nHttpFullResponse> {
	const credentials = await this.getCredentials('hookbridgeApi');
	const baseUrl = String(credentials.url).replace(/\/+$/, '');
	return (await this.helpers.httpRequestWithAuthentication.call(this, 'hookbridgeApi', {
		method,
		url: `${baseUrl}${path}`,
		body,
		json: true,
		returnFullResponse: true,
		ignoreHttpStatusErrors: true,
	})) as IN8nHttpFullResponse;
}

// The response's JSON body when the status is 2xx; a NodeApiError otherwise.
export function successBody(this: Context, response: IN8nHttpFullResponse, what: string): unknown {
	if (response.statusCode >= 200 && response.statusCode < 300) return response.body;
	const error = (response.body as IDataObject | undefined)?.error as IDataObject | undefined;
	throw new NodeApiError(this.getNode(), (response.body ?? {}) as JsonObject, {
		message: `${what}: Hookbridge answered ${response.statusCode}`,
		description: typeof error?.message === 'string' ? error.message : undefined,
		httpCode: String(response.statusCode),
	});
}

export async function liveCatalog(this: ILoadOptionsFunctions): Promise<CatalogEventType[]> {
	const response = await hookbridgeRequest.call(this, 'GET', '/v1/event-types');
	return successBody.call(this, response, 'Loading the event types') as CatalogEventType[];
}

const titleWords = (text: string): string =>
	text
		.split(/[\s._-]+/)
		.filter(Boolean)
		.map((word) => word.charAt(0).toUpperCase() + word.slice(1))
		.join(' ');

const labelOfValue = (value: unknown): string =>
	typeof value === 'string' ? titleWords(value) : JSON.stringify(value);

// "Any Event" first, then every type the deployment knows (registered ones
// included), described by the live catalog or, for a built-in type without
// a description there, by the one generated from schemas/.
export function eventTypeOptions(types: CatalogEventType[]): INodePropertyOptions[] {
	const builtIn = new Map(BUILT_IN_EVENT_TYPES.map((known) => [known.type, known]));
	return [
		{ name: 'Any Event', value: ANY_EVENT, description: 'Every event, whatever its type' },
		...types.map((entry) => ({
			name: titleWords(entry.schema?.title || entry.type),
			value: entry.type,
			description:
				entry.description || entry.schema?.description || builtIn.get(entry.type)?.description,
		})),
	];
}

// One option per value of each top-level enum field of `eventType`, as
// "Type: Video"; the value is the JSON pair [field, value] that
// filterFromSelection reads back.
export function filterOptions(
	types: CatalogEventType[],
	eventType: string,
): INodePropertyOptions[] {
	const entry = types.find((candidate) => candidate.type === eventType);
	return Object.entries(entry?.schema?.properties ?? {}).flatMap(([field, property]) =>
		Array.isArray(property.enum)
			? property.enum.map((value) => ({
					name: `${property.title || titleWords(field)}: ${labelOfValue(value)}`,
					value: JSON.stringify([field, value]),
					description: property.description,
				}))
			: [],
	);
}

// The subscription's filter from the selected [field, value] pairs: each
// field with the list of its chosen values; undefined when nothing is chosen.
export function filterFromSelection(selected: string[]): IDataObject | undefined {
	const filter: Record<string, unknown[]> = {};
	for (const pair of selected) {
		const [field, value] = JSON.parse(pair) as [string, unknown];
		(filter[field] ??= []).push(value);
	}
	return Object.keys(filter).length ? (filter as IDataObject) : undefined;
}
