// The assistant's query pack through @apollo/gateway over the Pulse core stub and the live
// pulse-vsphere subgraph, with the assistant's bearer token forwarded to pulse-vsphere; prints one
// JSON line: each pack operation's answer and the answer to one operation outside the pack.
// usage: node pack.mjs CORE_SDL_FILE VSPHERE_URL PACK_DIR VARIABLES_JSON TOKEN
//   VARIABLES_JSON: {"OperationName": {variables}, ...}
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { startCore, compose } from './graph.mjs';

const [coreFile, vsphereUrl, packDir, variablesJson, token] = process.argv.slice(2);
const variables = JSON.parse(variablesJson);
const core = await startCore(coreFile, []);
const supergraphSdl = await compose(core, vsphereUrl, { authorization: `Bearer ${token}` });

// The client's credential goes to pulse-vsphere, as a gateway does that forwards Authorization.
class Forwarding extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set('authorization', context.authorization);
  }
}
const gateway = new ApolloGateway({ supergraphSdl, buildService: ({ url }) => new Forwarding({ url }) });
const server = new ApolloServer({ gateway });
const { url: gatewayUrl } = await startStandaloneServer(server, {
  listen: { host: '127.0.0.1', port: 0 },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
});

async function run(query, vars) {
  const r = await fetch(gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables: vars ?? {} }),
  });
  return r.json();
}

const out = { operations: {} };
for (const file of readdirSync(packDir).filter((f) => f.endsWith('.graphql')).sort()) {
  const text = readFileSync(join(packDir, file), 'utf8');
  const name = /query\s+(\w+)/.exec(text)[1];
  out.operations[name] = await run(text, variables[name]);
}
out.outside = await run('query Outside { vsphereConnections { connectionId host username } }');
console.log(JSON.stringify(out));
await server.stop();
await core.stop();
process.exit(0);
