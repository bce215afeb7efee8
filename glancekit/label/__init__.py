"""Labelling: propose labels for an unlabelled pool, and review them (terminal or web app)."""
