"""Reinforcement learning on graph trajectories (installed as ``deepeyes_agent.rl``).

The reward, trajectory tensors, GRPO and trainers land here; they consume
:class:`deepeyes_agent.trajectory.Trajectory` produced by :mod:`deepeyes_agent.graphs`.
"""
