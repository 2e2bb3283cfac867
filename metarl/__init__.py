"""metarl: meta-reinforcement learning and few-shot learning on one meta-optimizer core."""

__version__ = "0.1.0"
