// Runs a Pulse core stub subgraph (implementing ../shared/federation/pulse-core.graphql) and
// @apollo/gateway over it and the live pulse-vsphere subgraph, then runs the cross-subgraph
// queries of the federation test and prints one JSON line with the results.
// usage: node gateway.mjs CORE_SDL_FILE VSPHERE_URL PINNED_JSON
//   PINNED_JSON: [{"__typename": "Vm", "id": "...", "notes": ["..."]}, ...]
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';

const [coreFile, vsphereUrl, pinnedJson] = process.argv.slice(2);
const coreSdl = readFileSync(coreFile, 'utf8');
const pinned = JSON.parse(pinnedJson);
const notes = new Map(pinned.map((p) => [p.id, p.notes ?? []]));

const reference = (ref) => ({ id: ref.id, notes: notes.get(ref.id) ?? [] });
const core = new ApolloServer({
  schema: buildSubgraphSchema({
    typeDefs: parse(coreSdl),
    resolvers: {
      Query: { pinnedResources: () => pinned.map((p) => ({ __typename: p.__typename, ...reference(p) })) },
      Agent: { __resolveReference: reference },
      Vm: { __resolveReference: reference },
      Storage: { __resolveReference: reference },
    },
  }),
});
const { url: coreUrl } = await startStandaloneServer(core, { listen: { host: '127.0.0.1', port: 0 } });

const sdlResp = await fetch(vsphereUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ query: '{ _service { sdl } }' }),
});
const vsphereSdl = (await sdlResp.json()).data._service.sdl;
const composed = composeServices([
  { name: 'vsphere', url: vsphereUrl, typeDefs: parse(vsphereSdl) },
  { name: 'core', url: coreUrl, typeDefs: parse(coreSdl) },
]);
if (composed.errors) {
  console.log(JSON.stringify({ compositionErrors: composed.errors.map((e) => e.message) }));
  process.exit(1);
}

const calls = { vsphereEntities: 0, vsphereOperations: 0 };
class Counting extends RemoteGraphQLDataSource {
  willSendRequest({ request }) {
    if (this.url === vsphereUrl) {
      calls.vsphereOperations += 1;
      if ((request.query ?? '').includes('_entities')) calls.vsphereEntities += 1;
    }
  }
}
const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService: ({ url }) => new Counting({ url }),
});
const server = new ApolloServer({ gateway });
const { url: gatewayUrl } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });

async function query(q) {
  const r = await fetch(gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: q }),
  });
  return r.json();
}

const out = {};
out.vmsWithNotes = await query('{ vsphereVms(first: 5) { nodes { id name platformType notes } } }');
calls.vsphereEntities = 0;
calls.vsphereOperations = 0;
out.pinned = await query(`{ pinnedResources { __typename
  ... on Vm { id notes vsphere { powerState topology { cluster { name } } } }
  ... on Agent { id notes vsphere { connectionState } }
  ... on Storage { id notes vsphere { type capacityBytes } } } }`);
out.pinnedCalls = { ...calls };
console.log(JSON.stringify(out));
await server.stop();
await core.stop();
process.exit(0);
