"""benchagents: agents that create benchmarks, with a person in the loop."""
