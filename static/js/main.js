// The admin page's wiring: it reads the page's settings, builds each part from its module and connects them.
// What each part does lives in its module (see the README's map of static/js).

import { Api } from "./api.js";
import { createAuditScreen } from "./audit-screen.js";
import { createChangeRequestsScreen } from "./change-requests-screen.js";
import { createContextFieldsScreen } from "./context-fields-screen.js";
import { createDeleteDialog } from "./delete-dialog.js";
import { byId } from "./dom.js";
import { createEvaluateScreen } from "./evaluate-screen.js";
import { createFlagPage } from "./flag-page/flag-page.js";
import { createFlagUpdates } from "./flag-updates.js";
import { createFlagsView } from "./flag-table-view.js";
import { FlagsTable } from "./flag-table.js";
import { createHistoryDialog } from "./history-dialog.js";
import { createLiveUpdates } from "./live.js";
import { createMessages } from "./messages.js";
import { createNewFlagDialog } from "./new-flag-dialog.js";
import { createPeopleScreen } from "./people-screen.js";
import { createPoller } from "./polling.js";
import { createRouter } from "./router.js";
import { createSegmentsScreen } from "./segments-screen.js";
import { createSession } from "./session.js";
import { createTokensScreen } from "./sdk-tokens-screen.js";
import { createTransferScreen } from "./transfer-screen.js";
import { createWebhooksScreen } from "./webhooks-screen.js";

const settings = document.body.dataset;
const config = {
  apiBase: settings.apiBase || "",
  environments: (settings.environments || "").split(",").filter(Boolean),
  defaultEnvironment: settings.defaultEnvironment,
  pollMs: Number(settings.pollMs) || 2500,
  singleSignOn: settings.oidc === "true",
};

// The parts call each other through these names once the page runs; each is built below, before start.
const api = new Api(config.apiBase, () => session.token);
// An environment's name as the table's column heading shows it ("production" -> "Production").
const environmentLabel = (name) => list.label(name);
const messages = createMessages(byId("messages"), { dismissed: () => listView.focusSearch() });
const session = createSession({
  api,
  environments: config.environments,
  environmentLabel,
  singleSignOn: config.singleSignOn,
  began: () => {
    newFlagDialog.offer(session.canEdit);
    router.start(session);
    live.start();
  },
  ended: () => {
    live.stop();
    router.stop();
    flagsOpened = false;
    listView.reset();
    messages.clear();
  },
});
const list = new FlagsTable(byId("flag-rows", HTMLTableSectionElement), byId("flag-table-head"), {
  toggle: (flag, environment) => updates.toggle(flag, environment),
  save: (flag, changes) => updates.save(flag, changes),
  history: (flag) => historyDialog.open(flag),
  remove: (flag) => deleteDialog.open(flag),
});
const listView = createFlagsView({
  api,
  table: list,
  session,
  messages,
  defaultEnvironment: config.defaultEnvironment,
  go: (params, options) => router.go("flags", params, options),
});
// Changes made elsewhere arrive over the service's event stream; polling is only its stand-in while it cannot be had.
const poller = createPoller(() => refreshShown(), config.pollMs, () => session.signedIn);
const live = createLiveUpdates({
  api,
  poller,
  active: () => session.signedIn,
  authFailed: (error) => session.handleAuthFailure(error),
});
live.subscribe(() => refreshShown());
const updates = createFlagUpdates({ api, list, listView, messages, environmentLabel, session });
const newFlagDialog = createNewFlagDialog({ api, list, listView, messages, session });
const deleteDialog = createDeleteDialog({ api, list, listView, messages, session });
const historyDialog = createHistoryDialog({ api, environmentLabel, session });

// Each screen registers here; the router shows the one the address names (see router.js).
const router = createRouter({ nav: byId("page-nav") });
let flagsOpened = false;
router.register("flags", {
  section: byId("flags-view"),
  show: (params) => {
    if (flagsOpened) listView.followUrl(params);
    else listView.open(params);
    flagsOpened = true;
  },
  refresh: () => listView.refresh(),
});
router.register("tokens", createTokensScreen({ api, session, environmentLabel }));
router.register(
  "people",
  createPeopleScreen({ api, session, environmentLabel, ...config }),
);
router.register("change-requests", createChangeRequestsScreen({ api, session, environmentLabel, router }));
router.register("audit", createAuditScreen({ api, session, environmentLabel, router }));
router.register("evaluate", createEvaluateScreen({ api, session, environmentLabel, router }));
router.register("segments", createSegmentsScreen({ api, session }));
router.register("context-fields", createContextFieldsScreen({ api, session, environmentLabel }));
router.register("webhooks", createWebhooksScreen({ api, session }));
router.register("transfer", createTransferScreen({ api, session }));

/** Read again what the current screen shows (a change was made elsewhere). */
function refreshShown() {
  router.refresh();
}

router.register(
  "flag",
  createFlagPage({ api, session, ...config, environmentLabel, go: (...args) => router.go(...args) }),
);

session.restore();
