"""acd: a real-time call router (automatic call distributor) for Asterisk."""

__version__ = "0.1.0"
