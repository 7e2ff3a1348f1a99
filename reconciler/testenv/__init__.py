"""A real Kubernetes API server on loopback for tests and for trying meshrc without a cluster:
etcd and kube-apiserver built from their Go modules (:mod:`.binaries`), started with Istio's
CRDs installed and a kubeconfig written (:mod:`.env`). ``python -m reconciler.testenv``
builds the binaries and runs one in the foreground."""

from reconciler.testenv.binaries import ETCD, KUBE_APISERVER, TestEnvError
from reconciler.testenv.env import DEFAULT_CRDS, TestEnv

__all__ = ["DEFAULT_CRDS", "ETCD", "KUBE_APISERVER", "TestEnv", "TestEnvError"]
