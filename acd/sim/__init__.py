"""acd.sim: a simulated Asterisk 22 speaking AMI over TCP, with callers and agent phones.

``Simulator`` is the entry point; ``run_standalone`` runs one with phones and a steady stream
of callers until cancelled (``acd sim``).
"""

from acd.sim.callers import SimCall
from acd.sim.phones import SimPhone
from acd.sim.server import Simulator
from acd.sim.standalone import run_standalone

__all__ = ["SimCall", "SimPhone", "Simulator", "run_standalone"]
