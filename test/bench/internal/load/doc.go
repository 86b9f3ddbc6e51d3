// Package load is the benchmark's load generator: a phase of N requests
// spread over C workers, each request timed on its own (every latency is
// kept), failures counted and a few of their messages kept; and the
// request the benchmark makes, a server-side dry-run create of a VMI with
// a unique name through client-go's REST client, unthrottled.
package load
