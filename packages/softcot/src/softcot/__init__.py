"""softcot: RL training of hard, soft and fuzzy chains of thought."""
