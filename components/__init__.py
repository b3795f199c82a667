"""The mesh-tracing components and the settings they are built from."""
