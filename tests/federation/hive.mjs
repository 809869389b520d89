// Hive Gateway (the `hive-gateway` CLI of @graphql-hive/gateway) with deploy/router/gateway.config.ts
// over the Pulse core stub and the live pulse-vsphere subgraph; prints one JSON line with the
// answers of graph.mjs's queries and what reached pulse-vsphere. A recording relay in front of
// pulse-vsphere counts the gateway's calls and keeps the headers they carried.
// usage: PULSE_VSPHERE_ROUTER_TOKEN=... node hive.mjs CORE_SDL_FILE VSPHERE_URL PINNED_JSON CONFIG
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCore, compose, runQueries } from './graph.mjs';

const [coreFile, vsphereUrl, pinnedJson, configFile] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const core = await startCore(coreFile, JSON.parse(pinnedJson));

const calls = { vsphereEntities: 0, vsphereOperations: 0 };
const seen = { authorization: new Set(), traceparent: new Set(), clientName: new Set() };
const relay = createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString();
  calls.vsphereOperations += 1;
  if (body.includes('_entities')) calls.vsphereEntities += 1;
  seen.authorization.add(req.headers.authorization ? 'bearer' : 'none');
  seen.traceparent.add(req.headers.traceparent ?? 'none');
  seen.clientName.add(req.headers['apollographql-client-name'] ?? 'none');
  const headers = { 'content-type': req.headers['content-type'] ?? 'application/json' };
  if (req.headers.authorization) headers.authorization = req.headers.authorization;
  if (req.headers.accept) headers.accept = req.headers.accept;
  const r = await fetch(vsphereUrl, { method: 'POST', headers, body });
  res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
  res.end(Buffer.from(await r.arrayBuffer()));
});
await new Promise((ok) => relay.listen(0, '127.0.0.1', ok));
const relayUrl = `http://127.0.0.1:${relay.address().port}/graphql`;

const token = process.env.PULSE_VSPHERE_ROUTER_TOKEN;
const supergraphSdl = await compose(core, relayUrl, { authorization: `Bearer ${token}` });
const scratch = mkdtempSync(join(tmpdir(), 'pv-hive-'));
const supergraphFile = join(scratch, 'supergraph.graphql');
writeFileSync(supergraphFile, supergraphSdl);

// A free port for the gateway: bind one, let it go, hand it over.
const probe = createServer();
await new Promise((ok) => probe.listen(0, '127.0.0.1', ok));
const port = probe.address().port;
await new Promise((ok) => probe.close(ok));

const gateway = spawn(
  join(here, 'node_modules/.bin/hive-gateway'),
  ['supergraph', supergraphFile, '--config-path', configFile, '--host', '127.0.0.1', '--port', String(port)],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
);
let gatewayErr = '';
gateway.stderr.on('data', (d) => { gatewayErr += d; });
const gatewayUrl = `http://127.0.0.1:${port}/graphql`;
let ready = false;
for (let i = 0; i < 300 && !ready; i += 1) {
  try {
    ready = (await fetch(`http://127.0.0.1:${port}/readiness`)).ok;
  } catch {
    // not listening yet
  }
  if (!ready) await new Promise((ok) => setTimeout(ok, 100));
}
if (!ready) {
  console.log(JSON.stringify({ gatewayNeverReady: gatewayErr.slice(-2000) }));
  gateway.kill('SIGKILL');
  process.exit(1);
}

const clientHeaders = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'apollographql-client-name': 'pulse-frontend',
};
for (const s of Object.values(seen)) s.clear();
const out = await runQueries(gatewayUrl, calls, clientHeaders);
out.reachedVsphere = {
  authorization: [...seen.authorization],
  traceparent: [...seen.traceparent].map((t) => t.slice(0, 35)),
  clientName: [...seen.clientName],
};
console.log(JSON.stringify(out));
gateway.kill('SIGTERM');
relay.close();
await core.stop();
rmSync(scratch, { recursive: true, force: true });
process.exit(0);
