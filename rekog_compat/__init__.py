"""rekog-compat: a local server that speaks the Amazon Rekognition face API."""

__version__ = "0.1.0"
