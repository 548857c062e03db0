"""Stored video: reading the container, analysing sampled frames, and the job runners."""
