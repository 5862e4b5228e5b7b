"""What work costs: budgets, the cost reports of jobs and songs."""
