"""Checkpoint I/O: zizi's own safetensors format and readers for foreign formats."""
