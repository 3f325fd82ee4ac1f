// An Express API protected by identityd's JWT access tokens (RFC 9068).
//
// Every token is checked locally with jose: the signature against the keys
// identityd publishes (createRemoteJWKSet fetches and caches them, and
// fetches again when a token names a key it does not know), the header's
// typ (at+jwt, so an ID token signed by the same key does not pass), iss,
// aud, exp and nbf. Each route then names the scope it needs.
//
//   IDENTITY_ISSUER=http://localhost:8000 API_AUDIENCE=https://orders.example PORT=8081 node server.js
import express from 'express';
import { createRemoteJWKSet, jwtVerify, errors } from 'jose';

const issuer = (process.env.IDENTITY_ISSUER || 'http://localhost:8000').replace(/\/+$/, '');
const audience = process.env.API_AUDIENCE;
const port = Number(process.env.PORT || 8081);
const host = process.env.HOST || '127.0.0.1';
if (!audience) {
  console.error('node-resource-server: set API_AUDIENCE to the audience your clients are registered with (--audience)');
  process.exit(1);
}

// The key set, fetched on first use; a stalled identityd fails the request
// after 5 s (503) instead of hanging it.
const jwks = createRemoteJWKSet(new URL(issuer + '/.well-known/jwks.json'), { timeoutDuration: 5000 });

// RFC 6750 §3 answers: 401 with a challenge, 403 for a missing scope.
function challenge(res, status, error, description, extra = '') {
  const code = error ? `, error="${error}"` : '';
  res.set('WWW-Authenticate', `Bearer realm="orders"${code}${extra}`);
  res.set('Cache-Control', 'no-store');
  return res.status(status).json({ error: error || 'unauthorized', error_description: description });
}

// requireScope accepts a request whose bearer token is a valid access token
// granted scope, and puts its claims in req.auth.
function requireScope(scope) {
  return async (req, res, next) => {
    const [scheme, token] = (req.get('Authorization') || '').split(' ');
    if (!/^bearer$/i.test(scheme || '') || !token) {
      return challenge(res, 401, '', 'a bearer token is required');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer,
        audience,
        typ: 'at+jwt',
        algorithms: ['RS256', 'PS256', 'ES256'],
        clockTolerance: 30,
        requiredClaims: ['exp', 'sub', 'client_id'],
      }));
    } catch (err) {
      // Cannot reach the keys: not the token's fault, try again later.
      if (err instanceof errors.JWKSTimeout || err?.code === 'ERR_JOSE_GENERIC' || err instanceof TypeError) {
        console.error('node-resource-server: cannot fetch the key set:', err.message);
        res.set('Retry-After', '5');
        return res.status(503).json({ error: 'temporarily_unavailable', error_description: 'the token cannot be checked right now' });
      }
      return challenge(res, 401, 'invalid_token', 'the access token is invalid or expired');
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(scope)) {
      return challenge(res, 403, 'insufficient_scope', `the access token lacks the scope ${scope}`, `, scope="${scope}"`);
    }
    req.auth = { subject: payload.sub, clientId: payload.client_id, tenantId: payload.tenant_id, scopes };
    return next();
  };
}

const app = express();
app.disable('x-powered-by');

app.get('/api/orders', requireScope('orders.read'), (req, res) => {
  res.json({ orders: ['order-1', 'order-2'], caller: req.auth.subject, client_id: req.auth.clientId });
});
app.post('/api/orders', requireScope('orders.write'), (req, res) => {
  res.status(201).json({ order: 'order-3', caller: req.auth.subject });
});
app.get('/health', (req, res) => res.json({ status: 'ok' }));

const server = app.listen(port, host, (err) => {
  if (err) {
    console.error('node-resource-server: cannot listen:', err.message);
    process.exit(1);
  }
  console.log(`node-resource-server listening on http://${host}:${server.address().port} (issuer ${issuer}, audience ${audience})`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
