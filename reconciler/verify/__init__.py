"""Proving routing with a real Envoy: run it, stand in for the mesh's endpoints, send traffic.

The I/O edge of traffic verification: Envoy processes (validation and serving, with their
admin API), loopback HTTP upstreams that say who answered, and a client that sends requests
through Envoy. What the traffic should look like is decided elsewhere (the RouteTest runner).
"""
