"""The daemon's /metrics, in the Prometheus text format, through prometheus_client.

Where it sits: the one importer of prometheus_client; `cni.daemon.server`
records each call when its worker exits and renders the page on GET /metrics.

- pycni_daemon_requests_total{plugin,verb,outcome}: outcome is `ok` (exit 0),
  `error` (a CNI error was answered), `lost` (the caller went away before the
  reply), `crashed` (the worker died without replying: answered 500) or
  `refused` (not run: malformed, too large, unknown plugin, not ready).
- pycni_daemon_request_duration_seconds{plugin,verb}: from the request read
  whole to the worker's exit (queueing included).
- pycni_daemon_requests_in_flight, pycni_daemon_requests_queued.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pycni_daemon_requests", "CNI calls served, by outcome",
                                ["plugin", "verb", "outcome"], registry=self.registry)
        self.duration = Histogram("pycni_daemon_request_duration_seconds",
                                  "CNI call latency, queueing included", ["plugin", "verb"],
                                  buckets=BUCKETS, registry=self.registry)
        self.in_flight = Gauge("pycni_daemon_requests_in_flight", "CNI calls running now",
                               registry=self.registry)
        self.queued = Gauge("pycni_daemon_requests_queued", "CNI calls waiting for a worker",
                            registry=self.registry)

    def record(self, plugin: str, verb: str, outcome: str, seconds: "float | None") -> None:
        self.requests.labels(plugin, verb, outcome).inc()
        if seconds is not None:
            self.duration.labels(plugin, verb).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
