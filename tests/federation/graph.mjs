// What the gateway tests share: the Pulse core stub subgraph (implementing
// ../shared/federation/pulse-core.graphql, with pinned resources and their notes), composing it
// with the live pulse-vsphere subgraph, and the cross-subgraph queries whose answers
// tests/federation.rs checks for every gateway.
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';

// Starts the core stub; PINNED: [{"__typename": "Vm", "id": "...", "notes": ["..."]}, ...].
export async function startCore(coreFile, pinned) {
  const coreSdl = readFileSync(coreFile, 'utf8');
  const notes = new Map(pinned.map((p) => [p.id, p.notes ?? []]));
  const reference = (ref) => ({ id: ref.id, notes: notes.get(ref.id) ?? [] });
  const server = new ApolloServer({
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
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { url, sdl: coreSdl, stop: () => server.stop() };
}

// The supergraph SDL of core + vsphere at their live URLs (exits 1 on composition errors).
export async function compose(core, vsphereUrl, headers = {}) {
  const sdlResp = await fetch(vsphereUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const vsphereSdl = (await sdlResp.json()).data._service.sdl;
  const composed = composeServices([
    { name: 'vsphere', url: vsphereUrl, typeDefs: parse(vsphereSdl) },
    { name: 'core', url: core.url, typeDefs: parse(core.sdl) },
  ]);
  if (composed.errors) {
    console.log(JSON.stringify({ compositionErrors: composed.errors.map((e) => e.message) }));
    process.exit(1);
  }
  return composed.supergraphSdl;
}

// Runs the checked queries through GATEWAY_URL; COUNT(): the subgraph calls so far, reset before
// the pinned query so its _entities batching is measured alone.
export async function runQueries(gatewayUrl, calls, headers = {}) {
  const query = async (q) => {
    const r = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body: JSON.stringify({ query: q }),
    });
    return r.json();
  };
  const out = {};
  out.vmsWithNotes = await query('{ vsphereVms(first: 5) { nodes { id name platformType notes } } }');
  calls.vsphereEntities = 0;
  calls.vsphereOperations = 0;
  out.pinned = await query(`{ pinnedResources { __typename
    ... on Vm { id notes vsphere { powerState topology { cluster { name } } } }
    ... on Agent { id notes vsphere { connectionState } }
    ... on Storage { id notes vsphere { type capacityBytes } } } }`);
  out.pinnedCalls = { ...calls };
  return out;
}
