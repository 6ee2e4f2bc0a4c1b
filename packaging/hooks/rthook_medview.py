"""PyInstaller runtime hook: runs at every start of the bundle, before medview's own code.

It runs in the spawned training worker too (the bundle re-executes itself for it), so anything
set here holds in both processes.
"""

import logging

# The bundle leaves out Triton (only torch.compile's GPU kernels need it; ~0.9 GB). The CUDA
# build of torch then logs "triton not found; flop counting will not work" when
# torch.utils.flop_counter is imported: true, irrelevant to medview, and alarming to a user.
logging.getLogger("torch.utils.flop_counter").setLevel(logging.ERROR)
