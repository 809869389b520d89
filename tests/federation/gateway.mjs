// @apollo/gateway over the Pulse core stub and the live pulse-vsphere subgraph; prints one JSON
// line with the answers of graph.mjs's queries.
// usage: node gateway.mjs CORE_SDL_FILE VSPHERE_URL PINNED_JSON
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { startCore, compose, runQueries } from './graph.mjs';

const [coreFile, vsphereUrl, pinnedJson] = process.argv.slice(2);
const core = await startCore(coreFile, JSON.parse(pinnedJson));
const supergraphSdl = await compose(core, vsphereUrl);

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
  supergraphSdl,
  buildService: ({ url }) => new Counting({ url }),
});
const server = new ApolloServer({ gateway });
const { url: gatewayUrl } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });

console.log(JSON.stringify(await runQueries(gatewayUrl, calls)));
await server.stop();
await core.stop();
process.exit(0);
