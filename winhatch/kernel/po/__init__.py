"""The power manager (Po): the power information the system services report."""
