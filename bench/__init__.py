"""pycni's benchmark against the Go reference plugins: `python -m bench` (as root).

Modules, in the order a run uses them: `sandbox` (the bench's own host and
container namespaces), `suite` (implementations, configs, the interleaved
schedule, the concurrent bursts), `spawn` (exec + wall/CPU timing of one
process), `report` (percentiles, ratios, the markdown table and JSON).
`make bench` builds the venv and the bundle first; see `python -m bench -h`.
"""
