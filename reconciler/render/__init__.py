"""Envoy configuration from a snapshot, as istiod would compute it; pure, no I/O.

    registry     the services a proxy can reach (Kubernetes Services, ServiceEntry hosts)
    endpoints    where their instances are: ServiceEntry/WorkloadEntry addresses, an endpoints
                 file, or the stand-ins of ``meshrc verify``
    clusters     one per service port and subset, with DestinationRule policies
    routes       VirtualService http rules as Envoy routes
    listeners    the sidecar's outbound listeners, or a Gateway's
    proxies      one proxy's whole configuration (``render_proxy``)
    layouts      a bootstrap with static resources, or file-based xDS; byte-identical output

Names follow istiod (``outbound|9080|v1|reviews.shop.svc.cluster.local``, route configuration
``9080``, virtual host ``reviews.shop.svc.cluster.local:9080``) so that ``istioctl
proxy-config`` reads a rendered Envoy's config dump as it reads a real sidecar's.
"""
