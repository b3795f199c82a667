// Command signoz-otel-collector is the SigNoz collector of the image the pinned signoz chart runs,
// behind the core otelcol command. The image's own main (cmd/signozotelcollector) runs one config
// and has no `validate` subcommand; this main gives the same factories (components.Components())
// and the same config providers (env and file) as its signozcol package sets them up, so the
// image's own decoding and Validate rules judge a config: `validate --config FILE`, `components`,
// and running a config (without OpAMP, which the image's --manager-config adds).
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/SigNoz/signoz-otel-collector/components"
	"github.com/SigNoz/signoz-otel-collector/constants"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Version is set by the build (tool.json's ldflags) to the release the image runs.
var Version = "dev"

// `validate` builds the pipelines as the service would, which creates every component in them, and
// the exporters that store in ClickHouse open and ping a connection when created: judging a config
// would need the cluster's ClickHouse. For `validate` only, these factories keep their released
// config type (so decoding, defaults and Validate are theirs) and their signals, but create
// exporters that discard. Running a config uses them as released.
var clickhouseExporters = []string{
	"clickhousetraces", "clickhouselogsexporter", "signozclickhousemetrics", "signozclickhousemeter", "metadataexporter",
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "signoz-otel-collector",
			Description: constants.Desc,
			Version:     Version,
		},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory()},
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}

func factories() (otelcol.Factories, error) {
	found, err := components.Components()
	if err != nil || len(os.Args) < 2 || os.Args[1] != "validate" {
		return found, err
	}
	for _, name := range clickhouseExporters {
		kind := component.MustNewType(name)
		released, ok := found.Exporters[kind]
		if !ok {
			return found, fmt.Errorf("components.Components() has no exporter %q", name)
		}
		found.Exporters[kind] = offline(released)
	}
	return found, nil
}

// offline is a released exporter factory whose exporters discard instead of connecting.
func offline(released exporter.Factory) exporter.Factory {
	var options []exporter.FactoryOption
	if level := released.TracesStability(); level != component.StabilityLevelUndefined {
		options = append(options, exporter.WithTraces(func(context.Context, exporter.Settings, component.Config) (exporter.Traces, error) {
			return discard{}, nil
		}, level))
	}
	if level := released.MetricsStability(); level != component.StabilityLevelUndefined {
		options = append(options, exporter.WithMetrics(func(context.Context, exporter.Settings, component.Config) (exporter.Metrics, error) {
			return discard{}, nil
		}, level))
	}
	if level := released.LogsStability(); level != component.StabilityLevelUndefined {
		options = append(options, exporter.WithLogs(func(context.Context, exporter.Settings, component.Config) (exporter.Logs, error) {
			return discard{}, nil
		}, level))
	}
	return exporter.NewFactory(released.Type(), released.CreateDefaultConfig, options...)
}

type discard struct {
	component.StartFunc
	component.ShutdownFunc
}

func (discard) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }
func (discard) ConsumeTraces(context.Context, ptrace.Traces) error    { return nil }
func (discard) ConsumeMetrics(context.Context, pmetric.Metrics) error { return nil }
func (discard) ConsumeLogs(context.Context, plog.Logs) error          { return nil }
