"""``meshrc serve``: a long-running reconciler — Git hosts' webhooks schedule syncs, and
health, readiness and Prometheus metrics are served over HTTP."""
