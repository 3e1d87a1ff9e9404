// A real OpenID provider for the tests (panva/oidc-provider, OpenID Certified), on loopback.
// Started by tests/oidc_provider.py:  node provider.mjs PORT REDIRECT_URI POST_LOGOUT_URI
// Its development sign-in form accepts any user name; the accounts below get groups.
import Provider from 'oidc-provider';

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
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60 },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready http://127.0.0.1:${port}`);
});
