"""Where a sync applies the mesh: a local Envoy's folder of file-based xDS, or a Kubernetes
cluster. Targets do I/O; they are handed what to apply, and report what they did."""
