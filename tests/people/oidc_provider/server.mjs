// A real OpenID provider for the single sign-on tests: panva's oidc-provider (OpenID-certified), on loopback, with
// its development sign-in pages (any login and password), one confidential client and PKCE required.
// node server.mjs PORT REDIRECT_URI CLIENT_ID CLIENT_SECRET; prints "ready" once it listens.
import Provider from "oidc-provider";

const [port, redirectUri, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

// Who signs in is whatever login is typed: "ada" is ada@example.com; "admin-…" is in the "admin" group.
function account(sub) {
  return {
    accountId: sub,
    async claims() {
      const groups = sub.startsWith("admin-") ? ["admin"] : sub.startsWith("editor-") ? ["editor"] : [];
      return { sub, name: sub, email: `${sub}@example.com`, email_verified: true, groups };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "groups"] },
  // The service reads who signed in from the ID token, as most providers send it with the profile scopes asked.
  conformIdTokenClaims: false,
  findAccount: async (ctx, sub) => account(sub),
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["feature-flags-test-provider-cookie-key"] },
});

provider.listen(Number(port), "127.0.0.1", () => {
  console.log("ready");
});
