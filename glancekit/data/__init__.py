"""Data: image loading, dataset readers and the torch datasets built from them."""
