// Composes the pulse-vsphere subgraph SDL with the Pulse core stub through @apollo/composition.
// usage: node compose.mjs VSPHERE_SDL_FILE CORE_SDL_FILE [SUPERGRAPH_OUT]
// Exit 0 and "composed" on success; exit 1 with each error's code and message otherwise.
import { readFileSync, writeFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';

const [vsphereFile, coreFile, out] = process.argv.slice(2);
const result = composeServices([
  { name: 'vsphere', url: 'http://vsphere.invalid/graphql', typeDefs: parse(readFileSync(vsphereFile, 'utf8')) },
  { name: 'core', url: 'http://core.invalid/graphql', typeDefs: parse(readFileSync(coreFile, 'utf8')) },
]);
if (result.errors && result.errors.length > 0) {
  for (const e of result.errors) {
    console.error(`${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  process.exit(1);
}
if (out) writeFileSync(out, result.supergraphSdl);
console.log(`composed (${(result.hints ?? []).length} hints)`);
