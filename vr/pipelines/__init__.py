"""Loaders: temporal/spatial sampling, shard reading, the DALI and torch pipelines."""
