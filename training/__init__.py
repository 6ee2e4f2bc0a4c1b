"""medview's training engine (torch, torchvision, MONAI, scikit-learn).

Entry points: ``training.api.run_training`` (one run), ``training.worker.run`` (the GUI's
spawned process), ``python -m training`` and ``training.cli_commands`` (the CLI). Importing
``training`` or ``training.config`` / ``training.cli_commands`` loads no torch, so the GUI and
``medview --help`` can read the model list and defaults cheaply.
"""
