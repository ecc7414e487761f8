"""Diagnoses that read a model and never change it: bias/variance with the basic recipe,
the health of gradients across layers, and gradient checking."""
