// panva's certified oidc-provider, set up like a MitID broker, for the test suite.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"issuer": "http://127.0.0.1:PORT", "port": PORT,
//          "registration_token": "...",            // initial access token for /reg
//          "accounts": {"id": {"name": "...", "municipality_code": "461"}}}
//
// What it does like a broker: `sub` in the ID token, profile claims (`name`) only at
// userinfo (the library's standard behaviour, conformIdTokenClaims), the level of
// assurance as an NSIS URI in `acr`, a municipality code claim (scope
// `municipality`), PKCE, client_secret_basic, RP-initiated logout and back-channel
// logout. Clients register themselves (dynamic registration with the initial access
// token), so each test's portal brings its own redirect URIs.
//
// The login page is ours: a form naming the account and the level to log in with,
// showing the prompt's name and reasons and the requested acr_values so that a test
// can see what the relying party asked for. Prints "ready" when it listens.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts || {};

export const NSIS = {
  low: 'https://data.gov.dk/concept/core/nsis/loa/Low',
  substantial: 'https://data.gov.dk/concept/core/nsis/loa/Substantial',
  high: 'https://data.gov.dk/concept/core/nsis/loa/High',
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

const escape = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(config.issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: ['indgang-test-cookie-key'] },
  acrValues: Object.values(NSIS),
  claims: {
    acr: null,
    sid: null,
    auth_time: null,
    // A broker always says the level: acr with every ID token, not only when asked.
    openid: ['sub', 'acr'],
    profile: ['name'],
    municipality: ['municipality_code'],
  },
  scopes: ['openid', 'profile', 'municipality'],
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: config.registration_token },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html><head><title>Log out</title></head><body>
          <h1>Log out of the broker?</h1>${form}
          <button type="submit" form="op.logoutForm" name="logout" value="yes">Yes</button>
          </body></html>`;
      },
      postLogoutSuccessSource(ctx) {
        ctx.body = '<!DOCTYPE html><html><head><title>Logged out</title></head><body>logged out at the broker</body></html>';
      },
    },
    backchannelLogout: { enabled: true },
  },
  // Outgoing requests (back-channel logout) go to the portal on loopback, which the
  // library refuses by default (SSRF protection): drop that guard, for tests only.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: account.name, municipality_code: account.municipality_code };
      },
    };
  },
  // A broker's own clients need no consent page: grant what the client may ask for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile municipality');
    await grant.save();
    return grant;
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>Error</title></head><body>
      <p id="error">${escape(out.error)}</p><p id="error_description">${escape(out.error_description)}</p>
      </body></html>`;
  },
});

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST') {
    const form = await readForm(req);
    const accountId = form.get('account');
    if (!accounts[accountId]) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('unknown account');
      return;
    }
    const loa = NSIS[form.get('loa')] || NSIS.substantial;
    await provider.interactionFinished(req, res, { login: { accountId, acr: loa } }, { mergeWithLastSubmission: false });
    return;
  }
  const { prompt, params, uid } = details;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!DOCTYPE html><html><head><title>Broker login</title></head><body>
    <p id="prompt">${escape(prompt.name)}</p>
    <p id="reasons">${escape((prompt.reasons || []).join(' '))}</p>
    <p id="acr_values">${escape(params.acr_values)}</p>
    <p id="requested_prompt">${escape(params.prompt)}</p>
    <form method="post" action="/interaction/${escape(uid)}">
      <input name="account"><select name="loa"><option>substantial</option><option>low</option><option>high</option></select>
      <button type="submit">Log in</button>
    </form></body></html>`);
}

const handler = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(err && err.message));
    });
    return;
  }
  handler(req, res);
});

server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
