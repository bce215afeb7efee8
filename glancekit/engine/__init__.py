"""Shared machinery: train, evaluate, predict, export, bench. Nothing here names a task."""
