// The SDK tokens screen (?page=tokens): create a token (its secret shown this once), list them, revoke one; and
// the applications evaluating in process that were heard of lately.

import { createConfirmDialog, fact, loadList, sendForm, showRefusal } from "./admin-forms.js";
import { byId, clear, el, timeElement } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const NAME_RULE = "Use 1 to 100 letters, digits, spaces, “-”, “_” or “.”, starting with a letter or digit.";
const ROLE_LABELS = {
  admin: "Admin",
  editor: "Editor",
  client: "Client (answers only)",
  server: "Server (reads rules, evaluates in process)",
};

/**
 * The tokens screen for the router.
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string}} deps
 * @returns {Screen}
 */
export function createTokensScreen({ api, session, environmentLabel }) {
  const section = byId("tokens-view");
  const form = byId("token-form", HTMLFormElement);
  const view = {
    name: byId("token-name", HTMLInputElement),
    role: byId("token-role", HTMLSelectElement),
    environment: byId("token-environment", HTMLSelectElement),
    environmentField: byId("token-environment-field"),
    secret: byId("token-secret"),
    secretLabel: byId("token-secret-label"),
    secretValue: byId("token-secret-value", HTMLInputElement),
    secretStatus: byId("token-secret-status"),
    copy: byId("token-secret-copy", HTMLButtonElement),
    done: byId("token-secret-done", HTMLButtonElement),
    status: byId("token-status"),
    list: byId("token-list"),
    applicationStatus: byId("application-status"),
    applications: byId("application-list"),
  };
  const everyEnvironment = byId("token-every-environment");
  const revokeDialog = createConfirmDialog(byId("token-revoke-dialog", HTMLDialogElement), session);

  // A client or server token reads one environment; an editor token may be bound to one, or cover every one.
  function followRole() {
    const role = view.role.value;
    view.environmentField.hidden = role === "admin";
    everyEnvironment.hidden = role !== "editor";
    if (role !== "editor" && view.environment.value === "") view.environment.selectedIndex = 1;
  }

  function item(token) {
    const where = token.environment ? environmentLabel(token.environment) : "Every environment";
    const revoke = el("button", {
      type: "button",
      className: "button small danger-text",
      text: "Revoke",
      "aria-label": `Revoke ${token.name}`,
    });
    revoke.addEventListener("click", () => {
      // Revoking the token this page signed in with ends this page's session too: said before, not found after.
      const own = session.tokenId !== null && session.tokenId === token.id;
      revokeDialog.ask(
        own ? `Revoke ${token.name}, the token you are signed in with?` : `Revoke ${token.name}?`,
        (own
          ? "This page signed in with it: you are signed out the moment it is revoked, and need another admin token to come back. "
          : "") +
          "Applications using it are refused from now on, on every instance within a second. This cannot be undone.",
        async () => {
          await api.request("DELETE", `/tokens/${encodeURIComponent(token.id)}`);
          await load();
          view.status.textContent = `Revoked ${token.name}.`;
        },
      );
    });
    return el(
      "li",
      { className: "admin-item" },
      el(
        "div",
        { className: "admin-item-head" },
        el("h3", { className: "admin-item-name", text: token.name }),
        el("div", { className: "flag-actions" }, revoke),
      ),
      el(
        "dl",
        { className: "facts" },
        fact("Role", ROLE_LABELS[token.role] || token.role),
        fact("Environment", where),
        fact("Created", timeElement(token.created_at), token.created_by ? ` by ${token.created_by}` : null),
        fact("Last used", token.last_used_at ? timeElement(token.last_used_at) : "Never"),
      ),
    );
  }

  function load() {
    return loadList({
      status: view.status,
      session,
      loading: "Loading tokens…",
      read: async () => {
        const { data } = await api.request("GET", "/tokens");
        clear(view.list);
        for (const token of data) view.list.append(item(token));
        return data.length === 1 ? "1 token." : `${data.length} tokens.`;
      },
    });
  }

  function application(instance) {
    return el(
      "li",
      { className: "admin-item" },
      el("div", { className: "admin-item-head" }, el("h3", { className: "admin-item-name", text: instance.app_name })),
      el(
        "dl",
        { className: "facts" },
        fact("Environment", environmentLabel(instance.environment)),
        fact("SDK", instance.sdk_version || "Unknown"),
        fact("Instance", instance.instance_id),
        fact("Last heard of", timeElement(instance.last_seen_at)),
      ),
    );
  }

  function loadApplications() {
    return loadList({
      status: view.applicationStatus,
      session,
      loading: "Loading applications…",
      read: async () => {
        const { data } = await api.request("GET", "/applications");
        view.applications.replaceChildren(...data.map(application));
        return data.length
          ? `${data.length} ${data.length === 1 ? "instance" : "instances"}.`
          : "None yet: an Unleash SDK appears here once it registers with a server token.";
      },
    });
  }

  function showSecret(created) {
    view.secretLabel.textContent = `Secret of ${created.name}`;
    view.secretValue.value = created.token;
    view.secretStatus.textContent = "";
    view.secret.hidden = false;
    view.secretValue.focus();
    view.secretValue.select();
  }

  function hideSecret() {
    // The secret leaves the page as well as the screen: nothing keeps it once the person has it.
    view.secretValue.value = "";
    view.secret.hidden = true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const role = view.role.value;
    const body = { name: view.name.value.trim(), role };
    if (role !== "admin" && view.environment.value) body.environment = view.environment.value;
    await sendForm({
      form,
      session,
      send: async () => {
        const { data } = await api.request("POST", "/tokens", { body });
        form.reset();
        followRole();
        showSecret(data);
        await load();
      },
      refused: (error) => {
        showRefusal(form, error, { name: NAME_RULE });
        if (!form.contains(document.activeElement)) view.name.focus();
      },
    });
  });

  view.copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(view.secretValue.value);
      view.secretStatus.textContent = "Copied to the clipboard.";
    } catch {
      // No clipboard (an insecure origin, a refused permission): the text is selected for Ctrl+C instead.
      view.secretValue.focus();
      view.secretValue.select();
      view.secretStatus.textContent =
        "Copying is not allowed here: the secret is selected, press Ctrl+C (⌘C) to copy it.";
    }
  });
  view.done.addEventListener("click", () => {
    hideSecret();
    view.name.focus();
  });
  view.role.addEventListener("change", followRole);

  return {
    section,
    admin: true,
    show() {
      followRole();
      load();
      loadApplications();
    },
    hide: hideSecret,
  };
}
