"""The benchmark (the main job): train the five systems and their baselines on the synthetic world, evaluate them
with the papers' metrics, and report each paper's claims beside what we measured."""

from .plan import FULL, PLANS, QUICK, Experiment, Plan
from .runner import run_benchmark

__all__ = ["FULL", "PLANS", "QUICK", "Experiment", "Plan", "run_benchmark"]
