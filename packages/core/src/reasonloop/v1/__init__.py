"""Generated code of the wire contract (protos/reasonloop/v1); regenerate with protos/generate.py."""
