"""The HTTP side: control API for integrators and supervisors, /metrics and /health."""
