// Command agent is the k8s-infra agent's collector (otelcol-contrib, at the version of the image the
// pinned k8s-infra chart runs) with only the components the agent's rendered config uses, built from
// the released contrib and core modules. Its command is the core otelcol command, as in the
// otelcol-contrib distribution: `validate --config FILE`, `components`, and running a config.
package main

import (
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/httpprovider"
	"go.opentelemetry.io/collector/confmap/provider/httpsprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// Version is set by the build (tool.json's ldflags) to the otelcol-contrib release the image runs.
var Version = "dev"

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-contrib",
			Description: "OpenTelemetry Collector Contrib (the k8s-infra agent's components)",
			Version:     Version,
		},
		Factories: components,
		// The providers of the otelcol-contrib distribution's builder manifest.
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					httpprovider.NewFactory(),
					httpsprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}
