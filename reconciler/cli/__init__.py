"""The command line (click): parse options, call a stage, write the result, exit with its code.

Only this package prints or exits; every error meshrc knows about is a
:class:`~reconciler.errors.MeshrcError` and ends as one line on stderr with exit code 2.
"""
