// The graphql-http server audit (the GraphQL-over-HTTP reference implementation's
// conformance suite, MUSTs and SHOULDs) against a running server, as an org
// admin. .ci/run installs graphql-http beside it; TestGraphQLOverHTTPAudit runs it.
// Usage: node graphql-http-audit.mjs <url> <bearer token>; prints JSON results.
import { serverAudits } from 'graphql-http';
const url = process.argv[2], token = process.argv[3];
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('Authorization', 'Bearer ' + token);
  return fetch(input, { ...init, headers });
};
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const r = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: r.status, reason: r.reason });
}
console.log(JSON.stringify(results));
