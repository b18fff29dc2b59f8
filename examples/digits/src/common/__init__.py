"""Helpers shared by the digits pipeline's steps (each step's key covers the ones its script imports)."""
