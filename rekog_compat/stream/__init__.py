"""Stream processors: live video sources searched against a collection, face-search records out to Kinesis."""
