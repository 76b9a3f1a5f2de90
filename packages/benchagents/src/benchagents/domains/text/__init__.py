"""The constrained text generation domain: the domain (`domain`), the constraints and their
checkers (`constraints`) and the witness texts that prove an instance satisfiable (`witness`)."""
