"""The I/O edge that reads desired state: Git repositories (pygit2) and YAML files.

Everything here turns bytes from disk or a Git server into plain documents with their origin
(file, line); nothing here knows what a VirtualService means.
"""
