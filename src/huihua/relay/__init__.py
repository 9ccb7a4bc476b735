"""Replies huihua asks a model for (API.md §8): the model client, the context, the generation
task, events."""
