"""Replies huihua asks a model for (docs/api.md §8): the model client, the context, the generation
task, events."""
