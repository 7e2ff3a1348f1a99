"""The exception tree: every failure meshrc reports as "could not check" (exit code 2).

    MeshrcError                   base; its message is safe to print (no secrets)
    ├── UsageError                bad arguments or options
    ├── SourceError               the desired state could not be read
    │   ├── RepositoryError       a repository could not be opened, cloned or fetched
    │   └── RefNotFoundError      a branch, tag or commit does not exist
    ├── ConfigError               meshrc's own configuration is invalid
    ├── PolicyError               Rego policies could not be evaluated (fail closed)
    ├── RenderError               Envoy configuration could not be rendered, or Envoy rejects it
    ├── VerifyError               a real Envoy or its stand-in upstreams could not be run
    ├── TargetError               a sync target (an Envoy's folder, a cluster) could not be
    │                             read or written
    └── StateError                the history of syncs could not be opened, read or written

Findings about the manifests themselves are never exceptions: they are data
(:mod:`reconciler.findings`). Exceptions of the libraries underneath (pygit2, OS errors) are
translated into these at the I/O edges, with credentials removed from the message.
"""

from __future__ import annotations


class MeshrcError(Exception):
    """Base of all errors meshrc reports to the user; the message is safe to print."""


class UsageError(MeshrcError):
    """The command line asks for something that cannot be done."""


class SourceError(MeshrcError):
    """The desired state could not be read."""


class RepositoryError(SourceError):
    """A repository could not be opened, cloned or fetched."""


class RefNotFoundError(SourceError):
    """A branch, tag or commit named by the user does not exist in the repository."""


class ConfigError(MeshrcError):
    """meshrc's own configuration (meshrc.yaml, options) is invalid."""


class PolicyError(MeshrcError):
    """A policy did not compile, the engine failed or timed out, or a decision was malformed.

    Policies fail closed: a check whose policies could not be evaluated is not a pass.
    """


class RenderError(MeshrcError):
    """The mesh could not be turned into Envoy configuration, or a real Envoy rejected it.

    A configuration Envoy rejects is meshrc's bug, reported with Envoy's own words.
    """


class VerifyError(MeshrcError):
    """Traffic could not be verified: Envoy did not start, or a stand-in upstream failed.

    Not a failed expectation (that is a result); the verification itself could not run.
    """


class TargetError(MeshrcError):
    """A sync target could not be read or written: a folder, an Envoy's admin API, or a
    Kubernetes API server (named by its URL, never with credentials)."""


class StateError(MeshrcError):
    """The history of syncs could not be opened, read or written."""
