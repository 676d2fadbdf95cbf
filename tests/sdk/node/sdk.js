// Unleash's Node SDK (unleash-client) and browser SDK (unleash-proxy-client), driven by tests/sdk.
// Reads one JSON job on stdin and answers on stdout:
//   {"job": "evaluate", url, token, appName, mode, contexts, flags}   -> one JSON line: answers[context][flag]
//   {"job": "watch", url, token, appName, mode, flag}                 -> "ready <bool>", then "changed <epoch ms>"
//   {"job": "frontend", url, token, appName, contexts, flags}        -> one JSON line: answers[context][flag]
//   {"job": "cases", url, token, appName, cases: [{flag, variant, context}]} -> one JSON line: an answer per case
//     (isEnabled, or getVariant's whole answer when variant is true)
// mode: "polling" (features, every second), "delta" (the delta API) or "streaming" (Server-Sent Events).
"use strict";

const { once } = require("node:events");
const { Unleash, InMemStorageProvider } = require("unleash-client");
const proxy = require("unleash-proxy-client");

function answer(client, flag, context) {
  if (flag.boolean) return client.isEnabled(flag.name, context, false);
  const variant = client.getVariant(flag.name, context);
  return { name: variant.name, payload: variant.payload || null, feature_enabled: variant.feature_enabled };
}

function serverClient(job) {
  const experimentalMode = {
    polling: { type: "polling", format: "full" },
    delta: { type: "polling", format: "delta" },
    streaming: { type: "streaming" },
  }[job.mode || "polling"];
  const client = new Unleash({
    url: job.url,
    appName: job.appName,
    instanceId: `node-${process.pid}`,
    customHeaders: { Authorization: job.token },
    refreshInterval: 1000,
    disableMetrics: true,
    storageProvider: new InMemStorageProvider(),
    skipInstanceCountWarning: true,
    experimentalMode,
  });
  client.on("error", (error) => process.stderr.write(`unleash error: ${error}\n`));
  client.on("warn", (warning) => process.stderr.write(`unleash warning: ${warning}\n`));
  return client;
}

async function evaluate(job) {
  const client = serverClient(job);
  await once(client, "synchronized");
  const answers = job.contexts.map((context) => job.flags.map((flag) => answer(client, flag, context)));
  client.destroy();
  return answers;
}

async function cases(job) {
  const client = serverClient(job);
  await once(client, "synchronized");
  const answers = job.cases.map(({ flag, variant, context }) =>
    variant ? client.getVariant(flag, context) : client.isEnabled(flag, context, false),
  );
  client.destroy();
  return answers;
}

async function watch(job) {
  const client = serverClient(job);
  await once(client, "synchronized");
  const first = client.isEnabled(job.flag, {}, false);
  process.stdout.write(`ready ${first}\n`);
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (client.isEnabled(job.flag, {}, false) !== first) {
        process.stdout.write(`changed ${Date.now()}\n`);
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  client.destroy();
}

async function frontend(job) {
  const answers = [];
  for (const context of job.contexts) {
    const client = new proxy.UnleashClient({
      url: job.url,
      clientKey: job.token,
      appName: job.appName,
      context,
      refreshInterval: 0,
      disableMetrics: true,
      storageProvider: new proxy.InMemoryStorageProvider(),
    });
    await client.start();
    answers.push(
      job.flags.map((flag) => {
        if (flag.boolean) return client.isEnabled(flag.name);
        const variant = client.getVariant(flag.name);
        return { name: variant.name, payload: variant.payload || null, feature_enabled: variant.feature_enabled };
      }),
    );
    client.stop();
  }
  return answers;
}

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const job = JSON.parse(input);
  if (job.job === "watch") {
    await watch(job);
    return;
  }
  const run = { frontend, cases, evaluate }[job.job];
  if (!run) throw new Error(`no such job: ${job.job}`);
  const answers = await run(job);
  // Exited only once written: a pipe takes 64 KB at a time, and exit does not wait for the rest.
  await new Promise((resolve) => process.stdout.write(`${JSON.stringify(answers)}\n`, resolve));
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
