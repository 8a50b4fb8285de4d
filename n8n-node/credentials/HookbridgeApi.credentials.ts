// The Hookbridge API credential: an account's API key and the deployment's
// base URL; n8n tests it with GET /v1/me.
import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

export class HookbridgeApi implements ICredentialType {
	name = 'hookbridgeApi';

	displayName = 'Hookbridge API';

	icon: Icon = { light: 'file:../icons/hookbridge.svg', dark: 'file:../icons/hookbridge.dark.svg' };

	documentationUrl = 'https://github.com/hookbridge/hookbridge/tree/main/n8n-node#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'An API key of your Hookbridge account (hb_...), from the dashboard',
		},
		{
			displayName: 'URL',
			name: 'url',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'https://hooks.example.com',
			description: 'The base URL of the Hookbridge deployment',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization: '=Bearer {{$credentials.apiKey}}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.url.replace(/\\/+$/, "")}}',
			url: '/v1/me',
			method: 'GET',
		},
	};
}
