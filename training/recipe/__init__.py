"""Torch-free: settings, model specs, Auto's rules, plan checks, costs, statistics and study
reports; the only part of the engine the window imports (an import-linter contract)."""
