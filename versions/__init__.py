"""The version table (table.py) beside the per-version folders it reads. It sits below config/ and
kube/: both read the pins, and neither is read by it."""
