"""pycni: CNI plugins (bridge, host-local, loopback) and their framework.

This package is imported on every plugin exec, so it holds the version string
and nothing else: each module imports only what its own step needs.
"""

__version__ = "0.1.0"
