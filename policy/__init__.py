"""The mesh-tracing policy pack (run with `pulumi preview --policy-pack policy`)."""
