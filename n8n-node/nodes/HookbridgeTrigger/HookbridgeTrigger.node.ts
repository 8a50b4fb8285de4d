// The Hookbridge Trigger node: subscribes the workflow's webhook URL to an
// event type (with an optional filter) on activation, unsubscribes on
// deactivation, and starts one execution per verified delivery with the
// delivered flat body as its item.
import type {
	IDataObject,
	IHookFunctions,
	ILoadOptionsFunctions,
	INodeProperties,
	INodePropertyOptions,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import {
	ANY_EVENT,
	eventTypeOptions,
	filterFromSelection,
	filterOptions,
	hookbridgeRequest,
	liveCatalog,
	successBody,
} from './api';
import { BUILT_IN_EVENT_TYPES } from './catalog';
import { verifyDelivery } from './signature';

interface Subscription {
	id: string;
	url: string;
	secret?: string;
}

// What the workflow remembers between activations: for each of its webhook
// URLs (the production one, and the test one while the editor listens for a
// test event) the subscription Hookbridge made and its signing secret.
// Keyed by URL so that testing an active workflow never touches the
// production subscription.
interface SubscriptionState extends IDataObject {
	subscriptions?: Record<string, { id: string; secret?: string }>;
}

const subscriptionsOf = (context: IHookFunctions | IWebhookFunctions) => {
	const state = context.getWorkflowStaticData('node') as SubscriptionState;
	return (state.subscriptions ??= {});
};

const webhookUrlOf = (context: IHookFunctions) => context.getNodeWebhookUrl('default') as string;

// Deletes the subscription the workflow remembers for `url`, if any
// (Hookbridge answers 200 also when it is already gone), and forgets it.
async function unsubscribe(this: IHookFunctions, url: string, what: string) {
	const subscriptions = subscriptionsOf(this);
	const remembered = subscriptions[url];
	if (!remembered) return;
	const response = await hookbridgeRequest.call(
		this,
		'DELETE',
		`/v1/hooks/${encodeURIComponent(remembered.id)}`,
	);
	successBody.call(this, response, what);
	delete subscriptions[url];
}

// For each built-in type, what it is and the fields each item carries, shown
// under the event picker once the type is chosen.
const builtInTypeNotices: INodeProperties[] = BUILT_IN_EVENT_TYPES.map((known) => ({
	displayName: `${known.description} Each event gives one item with the fields: ${known.fields.join(', ')}.`,
	name: `about_${known.type.replace(/[^A-Za-z0-9]/g, '_')}`,
	type: 'notice',
	default: '',
	displayOptions: { show: { event: [known.type] } },
}));

export class HookbridgeTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Hookbridge Trigger',
		name: 'hookbridgeTrigger',
		icon: {
			light: 'file:../../icons/hookbridge.svg',
			dark: 'file:../../icons/hookbridge.dark.svg',
		},
		group: ['trigger'],
		version: 1,
		subtitle: '={{$parameter["event"] === "*" ? "Any event" : $parameter["event"]}}',
		description: 'Starts the workflow when Hookbridge delivers an event',
		defaults: {
			name: 'Hookbridge Trigger',
		},
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: 'hookbridgeApi',
				required: true,
			},
		],
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				path: 'webhook',
			},
		],
		properties: [
			{
				displayName: 'Event Name or ID',
				name: 'event',
				type: 'options',
				typeOptions: { loadOptionsMethod: 'getEventTypes' },
				default: '',
				required: true,
				description:
					'The event type that starts the workflow, from your deployment\'s catalog. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
			},
			...builtInTypeNotices,
			{
				displayName: 'Only When Names or IDs',
				name: 'filter',
				type: 'multiOptions',
				typeOptions: { loadOptionsMethod: 'getFilterValues', loadOptionsDependsOn: ['event'] },
				default: [],
				displayOptions: { hide: { event: [ANY_EVENT, ''] } },
				description:
					'Receive only events whose fields have one of these values (values of one field: any of them; several fields: all of them). Leave empty to receive every event of the type. Choose from the list, or specify IDs using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
			},
		],
	};

	methods = {
		loadOptions: {
			async getEventTypes(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				return eventTypeOptions(await liveCatalog.call(this));
			},
			async getFilterValues(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				const eventType = this.getCurrentNodeParameter('event');
				if (typeof eventType !== 'string' || !eventType || eventType === ANY_EVENT) return [];
				return filterOptions(await liveCatalog.call(this), eventType);
			},
		},
	};

	webhookMethods = {
		default: {
			// True when the subscription the workflow remembers for this webhook
			// URL still exists in Hookbridge; a vanished one is forgotten.
			async checkExists(this: IHookFunctions): Promise<boolean> {
				const subscriptions = subscriptionsOf(this);
				const url = webhookUrlOf(this);
				const remembered = subscriptions[url];
				if (!remembered) return false;
				const response = await hookbridgeRequest.call(
					this,
					'GET',
					`/v1/webhooks/${encodeURIComponent(remembered.id)}`,
				);
				if (response.statusCode === 404) {
					delete subscriptions[url];
					return false;
				}
				const subscription = successBody.call(
					this,
					response,
					'Checking the subscription',
				) as Subscription;
				return subscription.url === url;
			},

			// Subscribes this webhook URL (replacing a subscription the workflow
			// remembers for it) and keeps the id and the secret.
			async create(this: IHookFunctions): Promise<boolean> {
				const url = webhookUrlOf(this);
				await unsubscribe.call(this, url, 'Removing the previous subscription');
				const body: IDataObject = {
					target_url: url,
					event: this.getNodeParameter('event') as string,
					source: 'n8n',
				};
				const filter = filterFromSelection(this.getNodeParameter('filter', []) as string[]);
				if (filter && body.event !== ANY_EVENT) body.filter = filter;
				const response = await hookbridgeRequest.call(this, 'POST', '/v1/hooks', body);
				const subscription = successBody.call(this, response, 'Subscribing') as Subscription;
				subscriptionsOf(this)[url] = { id: subscription.id, secret: subscription.secret };
				return true;
			},

			// Unsubscribes: n8n calls this when the workflow is deactivated, and
			// for the test URL when the editor stops listening.
			async delete(this: IHookFunctions): Promise<boolean> {
				await unsubscribe.call(this, webhookUrlOf(this), 'Unsubscribing');
				return true;
			},
		},
	};

	// A delivery verified with the secret of one of the workflow's
	// subscriptions starts one execution with the flat body as its item;
	// anything else is answered 401 and starts nothing.
	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const request = this.getRequestObject();
		const secrets = Object.values(subscriptionsOf(this)).map((remembered) => remembered.secret);
		const verdicts = (secrets.length ? secrets : [undefined]).map((secret) =>
			verifyDelivery(request.headers, request.rawBody, secret),
		);
		if (!verdicts.some((verdict) => verdict.verified)) {
			const reasons = verdicts.map((verdict) => ('reason' in verdict ? verdict.reason : ''));
			this.logger.warn(`Hookbridge Trigger refused a request: ${reasons.join('; ')}`);
			this.getResponseObject()
				.status(401)
				.json({ error: 'the Hookbridge signature could not be verified' });
			return { noWebhookResponse: true };
		}
		const event = JSON.parse(request.rawBody.toString('utf8')) as IDataObject;
		return { workflowData: [this.helpers.returnJsonArray(event)] };
	}
}
