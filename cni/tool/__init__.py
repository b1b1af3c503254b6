"""The operator side: the pycni CLI and what only it uses."""
