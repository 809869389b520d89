// Hive Gateway (`@graphql-hive/gateway`) in front of the Pulse graph: the Pulse core subgraph and
// pulse-vsphere. Compose the supergraph first (supergraph.yaml, with rover or any Federation 2
// composition), then:
//   PULSE_VSPHERE_ROUTER_TOKEN_FILE=/run/secrets/pulse-vsphere/router-token \
//     hive-gateway supergraph supergraph.graphql -c gateway.config.ts
// tests/federation.rs runs the gateway with this very file against the service.
import { readFileSync } from 'node:fs';

// The bearer token pulse-vsphere knows the gateway by (role reader; docs/security.md): from a
// file (a mounted Secret) or the environment. Never the client's own Authorization header: the
// frontend's credentials are the core graph's business.
function routerToken(): string | undefined {
  const file = process.env.PULSE_VSPHERE_ROUTER_TOKEN_FILE;
  if (file) return readFileSync(file, 'utf8').split('\n')[0].trim();
  return process.env.PULSE_VSPHERE_ROUTER_TOKEN;
}
const token = routerToken();

export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs({ request, subgraphName }: { request: Request; subgraphName: string }) {
      const headers: Record<string, string> = {};
      // Trace context and the client's name continue into the subgraph's spans and metrics.
      for (const name of ['traceparent', 'tracestate', 'apollographql-client-name', 'apollographql-client-version']) {
        const value = request.headers.get(name);
        if (value) headers[name] = value;
      }
      if (subgraphName === 'vsphere' && token) headers.authorization = `Bearer ${token}`;
      return headers;
    },
  },
  // pulse-vsphere answers its own refusals with codes (ONDEMAND_BUDGET_EXCEEDED, FORBIDDEN, ...):
  // pass them to clients rather than masking them.
  maskedErrors: false,
};
