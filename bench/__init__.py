"""The benchmark harness: `python -m bench` measures the gateway against a direct baseline."""
