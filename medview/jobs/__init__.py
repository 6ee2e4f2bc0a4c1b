"""The bridge between the window and the training process: typed messages and a runner.

Nothing here imports torch: the GUI imports this package at start-up.
"""
