"""The agent file OpenRLHF loads: ``--train.agent_func_path <this file>``.

OpenRLHF imports it with ``importlib.util.spec_from_file_location`` and builds ``AgentExecutor()`` with
no arguments, once per rollout worker. Settings (agent bounds, reward weights, judge) come from the
file named by ``DEEPEYES_OPENRLHF_SETTINGS`` (written by ``deepeyes-agent openrlhf train``
and passed through Ray's runtime env); without it the defaults hold.
"""

from deepeyes_agent.rl.openrlhf.executor import DeepEyesAgentExecutor as AgentExecutor

__all__ = ["AgentExecutor"]
