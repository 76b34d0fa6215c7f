"""Scale-out on OpenRLHF (Ray + vLLM + DeepSpeed).

- ``agent.py``: the file OpenRLHF loads with ``--train.agent_func_path``; its ``AgentExecutor`` runs this
  library's graph on OpenRLHF's vLLM engine and returns the rollout dict OpenRLHF trains on.
- :mod:`.executor`: that executor; :mod:`.engine`: the backend adapter over ``llm_engine``;
  :mod:`.response`: Trajectory → OpenRLHF's dict, and the checker of that contract.
- :mod:`.export`: rows → OpenRLHF prompt JSONL; :mod:`.command`: the ``train_ppo_ray`` command line;
  :mod:`.launch`: the files a run reads, and the launch.
- :mod:`.rollout`: OpenRLHF's own Ray rollout side of one step, on this machine (``openrlhf rollout``).
- :mod:`.weights`: fingerprints of the weights an engine holds (did a weight sync land?).
"""

from pathlib import Path

AGENT_FILE = Path(__file__).with_name("agent.py")
"""Pass this path to ``--train.agent_func_path``."""
ENV_VAR = "DEEPEYES_OPENRLHF_SETTINGS"
"""The environment variable naming the agent settings file (OpenRLHF builds the executor with no arguments)."""
