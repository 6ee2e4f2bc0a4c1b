"""medview's training engine (torch, torchvision, MONAI, scikit-learn).

Entry points: ``training.engine.api.run_training`` (one run), ``training.jobs.train`` (the GUI's
spawned process), ``python -m training`` and ``training.cli.commands`` (the CLI). Importing
``training`` or ``training.recipe.config`` / ``training.cli.commands`` loads no torch, so the GUI
and
``medview --help`` can read the model list and defaults cheaply.
"""
