"""codeit: ARC as programming-by-examples with prioritized hindsight replay."""
