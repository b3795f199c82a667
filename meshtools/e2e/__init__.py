"""`make e2e`: the real Pulumi engine, provider and a Kubernetes API server on loopback (docs/e2e.md)."""
