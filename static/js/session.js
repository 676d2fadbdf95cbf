// The session: signing in with a token and out again, what the token may do, and where it is kept: this tab's
// sessionStorage, never a URL. An answer saying the token no longer works ends the session.

import { ApiError } from "./api.js";
import { showFieldError } from "./dom.js";

const TOKEN_KEY = "ff.token";
const NO_LONGER_ACCEPTED = "Your token is no longer accepted. Sign in again.";

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
 */
export function createSession({ api, environments, environmentLabel, began, ended }) {
  const view = {
    signIn: document.getElementById("sign-in-view"),
    signInForm: document.getElementById("sign-in-form"),
    tokenInput: document.getElementById("token-input"),
    signInError: document.getElementById("sign-in-error"),
    signInButton: document.getElementById("sign-in-button"),
    screens: document.getElementById("screens"),
    who: document.getElementById("who"),
    signOut: document.getElementById("sign-out"),
  };
  const session = { token: null, role: null, environments: [], handleAuthFailure, restore };

  /** Find out what a token may do: /tokens answers admins only, and a client token reads one environment. */
  async function describeToken(token) {
    let role = "admin";
    try {
      await api.listTokens(token);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 403) throw error;
      role = "client";
    }
    if (role === "admin") return { role, environments };
    const readable = await Promise.all(
      environments.map((environment) =>
        api.listFlags(environment, null, token).then(
          () => true,
          (error) => {
            if (error instanceof ApiError && error.status === 403) return false;
            throw error;
          },
        ),
      ),
    );
    return { role, environments: environments.filter((_, i) => readable[i]) };
  }

  async function signIn(token) {
    const described = await describeToken(token);
    session.token = token;
    session.role = described.role;
    session.environments = described.environments;
    storeToken(token);
    showSignedIn();
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
    view.who.textContent =
      session.role === "admin" ? "Admin" : `Read-only · ${session.environments.map(environmentLabel).join(", ")}`;
    began();
  }

  function signOut(message) {
    session.token = null;
    session.role = null;
    storeToken(null);
    ended();
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
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
      signOut(NO_LONGER_ACCEPTED);
      return true;
    }
    return false;
  }

  /** Resume the session this tab kept, if any; else show the sign-in form. */
  async function restore() {
    const token = readToken();
    if (!token) {
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
