"""Registers every command module with the group. One import line per command module."""
