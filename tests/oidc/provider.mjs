// A real OpenID provider for the tests (panva/oidc-provider, OpenID Certified), on loopback.
// Started by tests/oidc_provider.py:  node provider.mjs PORT REDIRECT_URI POST_LOGOUT_URI
// Its development sign-in form accepts any user name; the accounts below get groups.
import * as jose from 'jose';
import Provider from 'oidc-provider';

// The provider's signing key, made here so that the token endpoint can also hand out the
// defective ID tokens a relying party must refuse (see DEFECTS), signed by the real key.
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const [port, redirectUri, postLogoutUri] = process.argv.slice(2);
const GROUPS = {
  alice: ['staff'],
  hana: ['hr-team', 'staff'],
  carl: ['contractors'],
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'assistant',
    client_secret: 'oidc test secret, not a real one',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [postLogoutUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false, // the ID token carries the scopes' claims (groups)
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: id[0].toUpperCase() + id.slice(1),
          email: `${id}@example.org`,
          groups: GROUPS[id] ?? [],
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['oidc test cookie key, not a real one'] },
  jwks: { keys: [signingKey] },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60 },
});
provider.proxy = false;

// A user signing in as one of these names gets an ID token with that defect: what a
// misconfigured or hostile provider (or a token in transit) could send.
const DEFECTS = {
  'wrong-issuer': (c) => ({ ...c, iss: 'http://127.0.0.1:1' }),
  'wrong-audience': (c) => ({ ...c, aud: 'someone-else' }),
  'expired': (c) => ({ ...c, iat: c.iat - 7200, exp: c.iat - 3600 }),
  'wrong-nonce': (c) => ({ ...c, nonce: 'not-the-one-sent' }),
};
provider.use(async (ctx, next) => {
  await next();
  const body = ctx.body;
  if (ctx.path !== '/token' || !body || typeof body.id_token !== 'string') return;
  const claims = jose.decodeJwt(body.id_token);
  const defect = DEFECTS[claims.sub];
  if (defect) {
    body.id_token = await new jose.SignJWT(defect(claims))
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .sign(privateKey);
  } else if (claims.sub === 'bad-signature') {
    const [head, payload, sig] = body.id_token.split('.');
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    body.id_token = [head, payload, flipped].join('.');
  } else if (claims.sub === 'not-a-token') {
    body.id_token = 'not.a.token';
  }
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready http://127.0.0.1:${port}`);
});
