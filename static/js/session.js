// The session: signing in with a token and out again, what the token may do, and where it is kept: this tab's
// sessionStorage, never a URL. An answer saying the token no longer works ends the session. Where the service has
// single sign-on, a person's session is the service's HttpOnly cookie instead: this page never sees its secret,
// only who it is, their role, and the CSRF token its changes carry.

import { ApiError } from "./api.js";
import { byId, showFieldError } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @typedef {ReturnType<typeof createSession>} Session */

const TOKEN_KEY = "ff.token";
const NO_LONGER_ACCEPTED = "Your token is no longer accepted. Sign in again.";
const SESSION_ENDED = "Your session has ended. Sign in again.";
const ROLE_LABELS = { admin: "Admin", editor: "Editor", viewer: "Viewer" };
// Why the service sent the browser back without a session (its ?sign_in_error=), in words.
const SIGN_IN_REFUSALS = {
  provider: "The identity provider is not set up as this service expects. Ask an admin.",
  state: "That sign-in had expired or was already used. Sign in again.",
  token: "The identity provider's answer could not be verified. Sign in again.",
  domain: "Your account's e-mail domain is not allowed here.",
  inactive: "Your account has been deactivated. Ask an admin.",
};

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode): the session lasts as long as this page instead.
  }
}

/**
 * The session over the configured environments; began() runs once the flags view is shown after a sign-in,
 * ended() at sign-out, before the sign-in form comes back.
 * @param {{api: Api, environments: string[], environmentLabel: (name: string) => string, began: () => void,
 *   ended: () => void, singleSignOn?: boolean}} deps
 */
export function createSession({ api, environments, environmentLabel, began, ended, singleSignOn = false }) {
  const view = {
    signIn: byId("sign-in-view"),
    signInForm: byId("sign-in-form", HTMLFormElement),
    tokenInput: byId("token-input", HTMLInputElement),
    signInError: byId("sign-in-error"),
    signInButton: byId("sign-in-button", HTMLButtonElement),
    screens: byId("screens"),
    who: byId("who"),
    signOut: byId("sign-out", HTMLButtonElement),
    ssoError: document.getElementById("sso-error"),
  };
  // person: who signed in through single sign-on (null for a token); canEdit: flags, segments and schedules.
  const session = {
    token: null,
    person: null,
    role: null,
    environments: [],
    signedIn: false,
    canEdit: false,
    // The environments where flags may be switched and targeted: roles can differ by environment.
    editable: new Set(),
    // The audit trail and segments are for those who read, and edit, every environment.
    readsEverything: false,
    editsEverywhere: false,
    // Who the service says is calling (as change requests name their requester), and where changes need approval.
    name: null,
    // The id of the token signed in with (null for a person): the tokens screen warns before it is revoked.
    tokenId: null,
    approvals: new Set(),
    needsApproval: (environment) => session.approvals.has(environment),
    canEditIn: (environment) => session.editable.has(environment),
    handleAuthFailure,
    restore,
  };

  function approvalsIn(me) {
    return new Set(me.environments.filter((entry) => entry.approvals).map((entry) => entry.name));
  }

  function editableIn(me) {
    const editing = new Set(["admin", "editor"]);
    return new Set(me.environments.filter((entry) => editing.has(entry.role)).map((entry) => entry.name));
  }

  /** Find out what a token may do, as the service says: its role, and the environments it reads. */
  async function describeToken(token) {
    const me = (await api.request("GET", "/auth/me", { token })).data;
    const readable = new Set(me.environments.filter((entry) => entry.role !== null).map((entry) => entry.name));
    return {
      role: me.role,
      environments: environments.filter((name) => readable.has(name)),
      editable: editableIn(me),
      readsEverything: me.role !== "client" && me.role !== "server" && readable.size === environments.length,
      name: me.name,
      tokenId: me.token_id ?? null,
      approvals: approvalsIn(me),
    };
  }

  async function signIn(token) {
    const described = await describeToken(token);
    session.token = token;
    session.person = null;
    session.role = described.role;
    session.environments = described.environments;
    session.canEdit = described.role === "admin" || described.role === "editor";
    session.editable = described.editable;
    session.readsEverything = described.readsEverything;
    session.editsEverywhere = described.editable.size === environments.length;
    session.name = described.name;
    session.tokenId = described.tokenId;
    session.approvals = described.approvals;
    session.signedIn = true;
    storeToken(token);
    showSignedIn();
  }

  /** Resume the person's single sign-on session, if this browser has one; return whether it did. */
  async function resumePerson() {
    api.personal = true;
    try {
      const answer = await api.request("GET", "/auth/session");
      api.csrfToken = answer.data.csrf_token;
      session.token = null;
      session.tokenId = null;
      session.person = answer.data.user;
      session.role = answer.data.user.role;
      session.environments = environments;
      const me = (await api.request("GET", "/auth/me")).data;
      session.editable = editableIn(me);
      session.name = me.name;
      session.approvals = approvalsIn(me);
      session.canEdit = session.editable.size > 0;
      session.readsEverything = true;
      session.editsEverywhere = session.editable.size === environments.length;
      session.signedIn = true;
      showSignedIn();
      return true;
    } catch (error) {
      api.personal = false;
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      return false;
    }
  }

  /** Show the screens and the top bar's who and Sign out when signed in, else the sign-in form. */
  function showView(signedIn) {
    view.signIn.hidden = signedIn;
    view.screens.hidden = !signedIn;
    view.who.hidden = !signedIn;
    view.signOut.hidden = !signedIn;
  }

  function showSignedIn() {
    showView(true);
    if (session.person) {
      const { email, name, subject } = session.person;
      view.who.textContent = `${email || name || subject} · ${ROLE_LABELS[session.role] ?? session.role}`;
    } else {
      const kind = { admin: "Admin", editor: "Editor" }[session.role] ?? "Read-only";
      const where = session.environments.map(environmentLabel).join(", ");
      view.who.textContent = session.role === "admin" ? kind : `${kind} · ${where}`;
    }
    began();
  }

  function signOut(message) {
    if (session.person) {
      // Ends the session on the service (every instance), not only in this page; the cookie is cleared there.
      api.request("POST", "/auth/logout").catch(() => {});
    }
    api.personal = false;
    api.csrfToken = null;
    session.token = null;
    session.person = null;
    session.role = null;
    session.signedIn = false;
    session.canEdit = false;
    session.editable = new Set();
    session.readsEverything = false;
    session.editsEverywhere = false;
    session.name = null;
    session.approvals = new Set();
    storeToken(null);
    ended();
    for (const dialog of document.querySelectorAll("dialog")) if (dialog.open) dialog.close();
    showView(false);
    view.tokenInput.value = "";
    view.signInError.textContent = message || "";
    view.tokenInput.focus();
  }

  function refuseToken(message) {
    showFieldError(view.tokenInput, view.signInError, message);
    view.tokenInput.focus();
  }

  view.signInForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = view.tokenInput.value.trim();
    if (!token) {
      refuseToken("Enter an API token.");
      return;
    }
    view.signInButton.disabled = true;
    view.signInError.textContent = "";
    try {
      await signIn(token);
      view.tokenInput.value = "";
      view.tokenInput.removeAttribute("aria-invalid");
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      refuseToken(error.status === 401 ? "That token was not accepted. Check it and try again." : error.message);
    } finally {
      view.signInButton.disabled = false;
    }
  });

  view.signOut.addEventListener("click", () => signOut(""));

  /** End the session if this error says the token no longer works (revoked, say); return whether it did. */
  function handleAuthFailure(error) {
    if (error instanceof ApiError && error.status === 401) {
      const message = session.person ? SESSION_ENDED : NO_LONGER_ACCEPTED;
      // The service has ended a person's session already: nothing to sign out of there.
      session.person = null;
      signOut(message);
      return true;
    }
    return false;
  }

  /** Resume the session this tab kept, if any; else show the sign-in form. */
  async function restore() {
    const token = readToken();
    if (!token) {
      const refused = new URLSearchParams(window.location.search).get("sign_in_error");
      if (view.ssoError) view.ssoError.textContent = SIGN_IN_REFUSALS[refused] || "";
      if (singleSignOn && !refused && (await resumePerson())) return;
      signOut("");
      return;
    }
    try {
      await signIn(token);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      signOut(error.status === 401 ? NO_LONGER_ACCEPTED : error.message);
    }
  }

  return session;
}
