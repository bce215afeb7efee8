"""Synthetic data generators (clocks; hands come with the hand_keypoints task)."""
