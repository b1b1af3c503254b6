"""Entry of the frozen bundle: one executable, dispatched on the name it runs as."""
from cni.main import multicall

multicall()
