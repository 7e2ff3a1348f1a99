"""meshrc: a GitOps reconciler for Istio service-mesh routing.

The pipeline reads left to right: ``source`` (Git, YAML) -> ``model`` (typed resources) ->
``checks`` (conformance findings) -> ``output`` (writers), driven by ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
