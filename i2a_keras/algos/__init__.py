"""Reinforcement-learning algorithms: A2C/A3C (Sec. 3.3) and policy distillation (Sec. 3.1)."""
