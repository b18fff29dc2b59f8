"""Helpers shared by the digits pipeline's steps (listed in every step's hash_paths)."""
