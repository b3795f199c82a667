"""Post-deploy tools: `verify` that a span reaches ClickHouse, `restart` workloads into the mesh,
`set-retention` through SigNoz's API. Pure logic in small modules; cluster.py is the only one that
talks to Kubernetes."""
