// What a web application does with the OpenFeature web SDK and the OFREP provider: point it at the service with a
// client token, polling off, and listen for configuration changes. The test page calls window.startOpenFeature.

import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";

window.startOpenFeature = async ({ baseUrl, token, flag, targetingKey }) => {
  const seen = { values: [], changes: [], errors: [] };
  window.openFeatureSeen = seen;
  const provider = new OFREPWebProvider({
    baseUrl,
    headers: [["Authorization", `Bearer ${token}`]],
    pollInterval: 0,
    disableVisibilityRefresh: true,
  });
  const client = OpenFeature.getClient();
  const record = () => seen.values.push({ value: client.getBooleanValue(flag, false), at: Date.now() });
  client.addHandler(ProviderEvents.ConfigurationChanged, () => {
    seen.changes.push(Date.now());
    record();
  });
  client.addHandler(ProviderEvents.Error, (details) => seen.errors.push(String(details?.message)));
  await OpenFeature.setProviderAndWait(provider, { targetingKey });
  record();
  return client.getBooleanDetails(flag, false);
};
