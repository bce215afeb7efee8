"""The local web app (`glance serve`)."""
