module meshtracing/tools/collectors/signoz

go 1.25.0

// The release the pinned signoz chart's image runs (signoz/signoz-otel-collector:v0.144.5).
require github.com/SigNoz/signoz-otel-collector v0.144.5

// Not the release's own: sonic v1.14.1, which v0.144.3 and v0.144.6 require, does not build with Go 1.26
// ("undefined: GoMapIterator": its map files are built for go1.24 && !go1.26); v1.15.0 is the first
// release that builds with it. It serves one log-pipeline operator's JSON parsing at run time, and
// no part of decoding or validating a config.
require github.com/bytedance/sonic v1.15.0

// The release's replace and exclude lines (a dependency's go.mod does not pass them on), as in the
// go.mod of v0.144.3 and v0.144.6, where they are identical: the proxy refuses v0.144.5's own
// ("403 Forbidden: This module version is not available"); compare them when it can be read.
replace (
	github.com/ClickHouse/ch-go v0.66.0 => github.com/SigNoz/ch-go v0.66.0-dd-sketch
	github.com/ClickHouse/clickhouse-go/v2 v2.36.0 => github.com/SigNoz/clickhouse-go/v2 v2.36.0-dd-sketch
	github.com/segmentio/ksuid => github.com/signoz/ksuid v1.0.4
	github.com/vjeantet/grok => github.com/signoz/grok v1.0.3
	go.opencensus.io => go.opencensus.io v0.23.0
)

exclude github.com/StackExchange/wmi v1.2.0
