"""medview's training engine (torch, torchvision, MONAI, scikit-learn), in packages that say
what each part is for: ``recipe`` (torch-free settings, Auto's rules, plan checks, statistics:
all the window imports), ``engine`` (one run), ``outputs`` (what a finished run gives),
``slice_mode``, ``stream``, ``studies``, ``cluster`` and ``cli`` (docs/DESIGN.md section 1).

Entry points: ``training.engine.api.run_training`` (one run), ``training.jobs`` (the window's
spawned jobs), ``python -m training`` and ``training.cli.commands`` (the CLI). Importing
``training``, ``training.recipe`` or ``training.cli.commands`` loads no torch, so the window and
``medview --help`` can read the model list and defaults cheaply.
"""
