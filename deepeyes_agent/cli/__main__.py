"""``python -m deepeyes_agent.cli`` = the ``deepeyes-agent`` command."""

from . import main

main()
