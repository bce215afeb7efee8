"""Runs: where training and evaluation results live (runs/TASK/NAME), and their reports."""
