// Runs graphql-http's server audit (the GraphQL over HTTP spec's own suite) against the URL in
// argv[2] and prints one JSON line: every result with its id, name and status ("ok", "notice"
// for MAY, "warn" for SHOULD, "error" for MUST), and for a failure the reason and the response
// (status, content type, body) so the Rust test can print what went wrong.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://host:port/graphql');
  process.exit(2);
}

const results = await auditServer({ url });
const out = [];
for (const r of results) {
  const item = { id: r.id, name: r.name, status: r.status };
  if (r.status !== 'ok') {
    item.reason = r.reason;
    const res = r.response;
    let body = '';
    try {
      // The audit may have read the body already; a failed read leaves it out.
      body = await res.text();
    } catch {
      body = '<body already read>';
    }
    item.response = {
      status: res.status,
      contentType: res.headers.get('content-type'),
      body: body.slice(0, 500),
    };
  }
  out.push(item);
}
console.log(JSON.stringify(out));
